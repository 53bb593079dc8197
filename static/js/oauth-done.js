// The end of an OAuth login in the popup PWD's SDK opened: tell the opener "done" (only if it is this site or
// one CORS_ALLOWED_ORIGINS names; postMessage drops it for any other origin), then close. Opened directly: go home.
(function () {
  const origins = JSON.parse(document.getElementById("opener-origins").textContent);
  if (!window.opener) {
    window.location.replace("/");
    return;
  }
  for (const origin of origins) window.opener.postMessage("done", origin);
  window.close();
})();
