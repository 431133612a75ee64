// Kapı page helpers. Everything works without this file; it only makes typing easier.
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
    form.addEventListener("submit", function (event) {
      // The language switch is not a payment.
      if (event.submitter && event.submitter.name === "switch_lang") { return; }
      setTimeout(function () { button.disabled = true; }, 0);
    });
  });

  // The same brand rules as the server (src/domain/card.rs).
  function brandOf(digits) {
    var p2 = parseInt(digits.slice(0, 2), 10), p4 = parseInt(digits.slice(0, 4), 10);
    if (p4 === 9792) { return "troy"; }
    if (digits.charAt(0) === "4") { return "visa"; }
    if (p2 === 34 || p2 === 37) { return "amex"; }
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) { return "mastercard"; }
    return "";
  }

  function group(digits, brand) {
    var sizes = brand === "amex" ? [4, 6, 5] : [4, 4, 4, 4, 3];
    var out = [], i = 0;
    sizes.forEach(function (n) {
      if (i < digits.length) { out.push(digits.slice(i, i + n)); i += n; }
    });
    return out.join(" ");
  }

  var number = document.getElementById("card_number");
  var cvv = document.getElementById("cvv");
  var hint = document.getElementById("cvv-hint");
  var badge = document.getElementById("card-brand");
  if (number) {
    number.addEventListener("input", function () {
      var digits = number.value.replace(/\D/g, "").slice(0, 19);
      var brand = brandOf(digits);
      number.value = group(digits, brand);
      if (badge) {
        badge.querySelectorAll("svg[data-brand]").forEach(function (svg) {
          svg.hidden = svg.getAttribute("data-brand") !== brand;
        });
      }
      if (cvv) { cvv.maxLength = brand === "amex" ? 4 : 3; }
      if (hint && brand) {
        hint.textContent = hint.getAttribute(brand === "amex" ? "data-amex" : "data-other");
      }
    });
  }

  // Time left to pay; at the end the page reloads and shows that the time is up.
  var countdown = document.getElementById("countdown");
  if (countdown) {
    var deadline = parseInt(countdown.getAttribute("data-expires"), 10);
    var tick = function () {
      var left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      countdown.textContent = left > 0
        ? "(" + m + ":" + (s < 10 ? "0" : "") + s + ")"
        : "(" + countdown.getAttribute("data-expired") + ")";
      if (left === 0) { clearInterval(timer); setTimeout(function () { location.reload(); }, 1500); }
    };
    var timer = setInterval(tick, 1000);
    tick();
  }
})();
