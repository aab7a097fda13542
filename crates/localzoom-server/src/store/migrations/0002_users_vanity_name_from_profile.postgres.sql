-- Earlier versions kept `vanity_name` in the profile JSON: move it to its column.
UPDATE users SET vanity_name = profile::jsonb ->> 'vanity_name',
                 profile = (profile::jsonb - 'vanity_name')::text
    WHERE profile::jsonb ? 'vanity_name';
