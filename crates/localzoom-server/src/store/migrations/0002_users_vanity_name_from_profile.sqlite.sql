-- Earlier versions kept `vanity_name` in the profile JSON: move it to its column.
UPDATE users SET vanity_name = json_extract(profile, '$.vanity_name'),
                 profile = json_remove(profile, '$.vanity_name')
    WHERE json_extract(profile, '$.vanity_name') IS NOT NULL;
