// Kapı page helpers. Everything works without this file; it only saves clicks.
(function () {
  "use strict";
  // Forms that carry a result or a 3-D Secure message submit themselves after a delay (ms).
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    var delay = parseInt(form.getAttribute("data-autosubmit"), 10) || 0;
    setTimeout(function () { form.submit(); }, delay);
  });
  // The pay button works once: a second click would only resend the same form.
  document.querySelectorAll("button[data-once]").forEach(function (button) {
    var form = button.form;
    if (!form) { return; }
    form.addEventListener("submit", function () {
      setTimeout(function () { button.disabled = true; }, 0);
    });
  });
})();
