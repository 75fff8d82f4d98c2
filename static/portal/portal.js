/* Progressive enhancements of the portal; every page also works without JavaScript.
 *
 * - [data-copy="#id"]: a button that copies the text of #id to the clipboard.
 * - form[data-confirm="…"]: asks before submitting.
 * - [data-poll="url"]: fetches the JSON at url every second and writes each value into the
 *   descendants marked data-field="name" (a <progress> gets it as its value, an element marked
 *   data-field-html="name" gets it as HTML drawn by the server); reloads the page once the JSON
 *   says finished, so the server renders the final state.
 * - form[data-upload]: sends the file with a progress bar ([data-upload-progress]).
 * - [data-submit-on-change="button-id"]: submits its form with that button when it changes.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;

  function say(region, text) {
    if (region) region.textContent = text;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP pages have no clipboard API: copy through a selected, hidden textarea.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var copied = document.execCommand("copy");
    document.body.removeChild(area);
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("aria-describedby"));
    copyText(source.textContent.trim()).then(
      function () { say(status, "Copied to the clipboard."); },
      function () { say(status, "Copying failed: select the text and copy it."); }
    );
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    var buttonId = event.target.getAttribute("data-submit-on-change");
    if (buttonId && event.target.form) event.target.form.requestSubmit(document.getElementById(buttonId));
  });

  function show(root, data) {
    Object.keys(data).forEach(function (name) {
      root.querySelectorAll('[data-field="' + name + '"]').forEach(function (element) {
        if (element.tagName !== "PROGRESS") element.textContent = data[name];
        else if (data[name] === null) element.removeAttribute("value");
        else element.value = data[name];
      });
      root.querySelectorAll('[data-field-html="' + name + '"]').forEach(function (element) {
        element.innerHTML = data[name];
      });
    });
  }

  function poll(root) {
    var url = root.getAttribute("data-poll");
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          return response.json();
        })
        .then(function (data) {
          show(root, data);
          if (data.finished) window.location.reload();
          else window.setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          // A blip (deploy, network): keep trying, more slowly.
          window.setTimeout(tick, POLL_MS * 5);
        });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function upload(form) {
    var bar = form.querySelector("[data-upload-progress]");
    var status = form.querySelector("[data-upload-status]");
    var request = new XMLHttpRequest();
    bar.hidden = false;
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      bar.value = event.loaded / event.total;
      say(status, "Uploading… " + Math.round((100 * event.loaded) / event.total) + "%");
    });
    request.addEventListener("load", function () {
      if (request.responseURL && request.responseURL !== form.action) {
        // Redirected to the import's page: the upload was accepted.
        window.location.assign(request.responseURL);
        return;
      }
      // The form came back with errors: show that page's content in place.
      var page = new DOMParser().parseFromString(request.responseText, "text/html");
      document.querySelector("main").replaceWith(page.querySelector("main"));
    });
    request.addEventListener("error", function () {
      say(status, "The upload failed: check the connection and try again.");
      form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
    });
    request.open("POST", form.action);
    request.send(new FormData(form));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.hasAttribute("data-upload") || !window.FormData) return;
    event.preventDefault();
    upload(form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("[data-js-hidden]").forEach(function (element) { element.hidden = true; });
  });
})();
