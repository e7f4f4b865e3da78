// Applies the stored theme before first paint (a classic, blocking script on purpose: no flash of
// the wrong theme). The live logic is in theme.js; the storage key and values must match it.
(function () {
  var preference = "system";
  try {
    var stored = window.localStorage.getItem("boring-core:theme");
    if (stored === "light" || stored === "dark" || stored === "system") preference = stored;
  } catch (_) {
    // Storage can be unavailable (privacy mode); the system preference applies.
  }
  var dark = preference === "dark" ||
    (preference === "system" && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  var root = document.documentElement;
  root.setAttribute("data-theme", dark ? "dark" : "light");
  root.setAttribute("data-theme-preference", preference);
  root.classList.toggle("dark", dark);
})();
