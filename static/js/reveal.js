// Shows a field only when the choice it belongs to is picked: an input marked
// data-reveal-when="mode=custom" sits in a .field that is hidden unless the form's radio "mode" has the value
// "custom" checked. Progressive enhancement: without this script every field is shown and the server checks
// the input the same way; a field that came back with an error stays visible.
(function () {
  "use strict";
  function update(form) {
    form.querySelectorAll("[data-reveal-when]").forEach(function (input) {
      var rule = input.getAttribute("data-reveal-when").split("=");
      var chosen = form.querySelector("input[name='" + rule[0] + "']:checked");
      var field = input.closest(".field") || input;
      var show = (chosen && chosen.value === rule[1]) || field.classList.contains("has-error");
      field.hidden = !show;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-reveal-when]")) {
        return;
      }
      update(form);
      form.addEventListener("change", function (event) {
        if (event.target.type === "radio") {
          form.querySelectorAll(".field.has-error [data-reveal-when]").forEach(function (input) {
            input.closest(".field").classList.remove("has-error");
          });
          update(form);
        }
      });
    });
  });
})();
