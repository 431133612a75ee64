// Kapı page helpers. Everything works without this file; it only makes typing easier.
(function () {
  "use strict";

  // Forms that carry a result or a 3-D Secure message submit themselves after a delay (ms).
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    var delay = parseInt(form.getAttribute("data-autosubmit"), 10) || 0;
    setTimeout(function () { form.submit(); }, delay);
  });

  // Print buttons work only with this script: without it they stay hidden.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  // After a submit with errors, the summary of the errors is read first; after a decline,
  // why it was declined.
  var summary = document.getElementById("error-summary") || document.getElementById("retry-notice");
  if (summary) { summary.focus(); }

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
        // SVG elements have no `hidden` property: set the attribute itself.
        badge.querySelectorAll("svg[data-brand]").forEach(function (svg) {
          if (svg.getAttribute("data-brand") === brand) {
            svg.removeAttribute("hidden");
          } else {
            svg.setAttribute("hidden", "");
          }
        });
      }
      if (cvv) { cvv.maxLength = brand === "amex" ? 4 : 3; }
      if (hint && brand) {
        hint.textContent = hint.getAttribute(brand === "amex" ? "data-amex" : "data-other");
      }
    });
  }

  // The expiry as MM/YY: the slash comes by itself after the month.
  var expiry = document.getElementById("exp");
  if (expiry) {
    expiry.addEventListener("input", function (event) {
      var digits = expiry.value.replace(/\D/g, "").slice(0, 4);
      if (digits.length === 1 && digits > "1") { digits = "0" + digits; }
      var deleting = event.inputType && event.inputType.indexOf("delete") === 0;
      expiry.value = digits.length > 2 || (digits.length === 2 && !deleting)
        ? digits.slice(0, 2) + "/" + digits.slice(2)
        : digits;
    });
  }

  // Installments: the table for the card being typed, asked from Kapı by its first 6 or 8
  // digits (never the whole number); the pay button names the chosen option's total.
  var box = document.getElementById("installments");
  var options = document.getElementById("installment-options");
  var form = document.getElementById("card-form");
  if (box && options && form && number && window.fetch) {
    var initial = options.innerHTML, shownFor = "", asked = 0;
    var status = document.getElementById("installment-status");
    // The summary, the order box and the pay button name what the card will be charged: the
    // chosen option's total and installments, or the order's when there is nothing to choose.
    var follow = function (id, attribute) {
      var element = document.getElementById(id);
      if (!element) { return; }
      var chosen = options.querySelector("input[name=installment]:checked");
      element.textContent = chosen ? chosen.getAttribute(attribute) : element.getAttribute("data-single");
    };
    var showChoice = function () {
      follow("summary-amount", "data-total");
      follow("summary-plan", "data-plan");
      follow("confirm-total", "data-total-line");
      follow("pay-button", "data-pay-label");
    };
    // A short line for screen readers, instead of reading the whole table again.
    var announce = function () {
      var lines = options.querySelectorAll(".installment-card, #installment-note");
      if (status) {
        status.textContent = Array.prototype.map.call(lines, function (l) { return l.textContent; }).join(" ");
      }
    };
    showChoice();
    options.addEventListener("change", showChoice);
    number.addEventListener("input", function () {
      var digits = number.value.replace(/\D/g, "");
      var bin = digits.length >= 8 ? digits.slice(0, 8) : digits.length >= 6 ? digits.slice(0, 6) : "";
      if (bin === shownFor) { return; }
      shownFor = bin;
      if (!bin) { options.innerHTML = initial; showChoice(); announce(); return; }
      var chosen = options.querySelector("input[name=installment]:checked");
      var body = new URLSearchParams();
      body.set("csrf_token", form.elements.csrf_token.value);
      body.set("bin", bin);
      body.set("selected", chosen ? chosen.value : "1");
      var ticket = ++asked;
      fetch(box.getAttribute("data-url"), { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          // Only the answer to the latest question counts.
          if (html !== null && ticket === asked) { options.innerHTML = html; showChoice(); announce(); }
        })
        .catch(function () { /* without the table the server offers it after submit */ });
    });
  }

  // Time left to pay; at the end the page reloads and shows that the time is up.
  var countdown = document.getElementById("countdown");
  if (countdown) {
    var deadline = parseInt(countdown.getAttribute("data-expires"), 10);
    var tick = function () {
      var left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      countdown.textContent = "· " + (left > 0
        ? countdown.getAttribute("data-left").replace("{min}", m).replace("{sec}", s)
        : countdown.getAttribute("data-expired"));
      if (left === 0) { clearInterval(timer); setTimeout(function () { location.reload(); }, 1500); }
    };
    var timer = setInterval(tick, 1000);
    tick();
  }
})();
