/* "发送验证码" without leaving the page: the button already submits its form with action=send_code (the
   page works without this script); here it is sent by fetch, every input stays as typed, and the button
   counts down before it can ask again. The wait comes from the server (data-wait, OTP_MIN_INTERVAL_SECONDS). */
(function () {
  "use strict";
  if (window.smsCodeReady) { return; }
  window.smsCodeReady = true;

  function countdown(button, seconds) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    var left = Math.max(1, Math.round(seconds));
    button.disabled = true;
    function tick() {
      if (left <= 0) {
        clearInterval(timer);
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = label + " (" + left + "s)";
      left -= 1;
    }
    var timer = setInterval(tick, 1000);
    tick();
  }

  function say(button, text, isError) {
    var status = button.form && button.form.querySelector("[data-code-status]");
    if (!status) { return; }
    status.textContent = text;
    status.className = isError ? "error" : "help";
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-send-code]") : null;
    if (!button || !window.fetch || !window.FormData || button.disabled) { return; }
    event.preventDefault();
    var form = button.form;
    var data = new FormData(form);
    data.set("action", "send_code");
    // Files stay in their inputs; they need not travel with a request for a code.
    Array.prototype.forEach.call(form.querySelectorAll("input[type=file]"), function (input) {
      if (input.name) { data.delete(input.name); }
    });
    button.disabled = true;
    fetch(form.getAttribute("action") || window.location.pathname + window.location.search, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (response) {
      return response.json();
    }).then(function (answer) {
      say(button, answer.message, !answer.ok);
      if (answer.ok) {
        countdown(button, Number(button.getAttribute("data-wait")) || 60);
      } else if (answer.retry_after) {
        countdown(button, answer.retry_after);
      } else {
        button.disabled = false;
      }
      var code = form.querySelector("[autocomplete=one-time-code]");
      if (code) { code.focus(); }
    }).catch(function () {
      // No answer we understand: fall back to the plain form post (the page re-renders with the inputs).
      button.disabled = false;
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "action";
      hidden.value = "send_code";
      form.appendChild(hidden);
      form.submit();
    });
  });

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-send-code][data-sent]"), function (b) {
      countdown(b, Number(b.getAttribute("data-wait")) || 60);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
