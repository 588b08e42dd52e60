// A busy state for forms marked data-busy: on submit the submit button is disabled and reads "处理中…"
// (its data-busy-label), so a second tap cannot send the form again. Progressive enhancement: without this
// script the form works the same, and a double submit is still paid once (the idempotency key).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-busy")) {
      return;
    }
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    if (!button) {
      return;
    }
    if (form.getAttribute("data-busy-sent") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-busy-sent", "1");
    // Disabled after this event, so the browser still sends the button's own name and value.
    window.setTimeout(function () {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (button.getAttribute("data-busy-label")) {
        button.textContent = button.getAttribute("data-busy-label");
      }
    }, 0);
  });
  // Back from the next page (bfcache): the form is usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-busy-sent]").forEach(function (form) {
      form.removeAttribute("data-busy-sent");
      form.querySelectorAll("button[aria-busy]").forEach(function (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        if (button.getAttribute("data-idle-label")) {
          button.textContent = button.getAttribute("data-idle-label");
        }
      });
    });
  });
})();
