// Keeps a table live: a <tbody data-poll="URL"> is replaced, every second, by the rows URL answers.
"use strict";
document.querySelectorAll("tbody[data-poll]").forEach((rows) => {
  const url = rows.dataset.poll;
  const refresh = async () => {
    try {
      const answer = await fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual" });
      // Signed out meanwhile (another tab, or the session ended): the page itself goes to the sign-in form.
      if (answer.type === "opaqueredirect") {
        location.reload();
        return;
      }
      if (answer.ok) {
        const html = await answer.text();
        if (html !== rows.innerHTML) rows.innerHTML = html;
      }
    } catch (_) {
      // The server restarting: try again on the next tick.
    }
  };
  setInterval(refresh, 1000);
});
