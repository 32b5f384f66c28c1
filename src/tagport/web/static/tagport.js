// The console's own glue: htmx settings, dialogs, live progress over Server-Sent Events,
// counters, and auto-submitting selects. No framework; htmx does the partial updates.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) {
    // Refusals (4xx) and failures (5xx) are rendered too: the server retargets them to #flash
    // or re-renders the form with its reasons; 204 swaps nothing.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "[45]..", swap: true, error: false },
    ];
    htmx.config.includeIndicatorStyles = false;
    htmx.config.allowEval = false;
  }
  wire(document);
});
document.addEventListener("htmx:afterSettle", (event) => wire(event.target));
document.addEventListener("htmx:beforeRequest", () => {
  const flash = document.getElementById("flash");
  if (flash) flash.replaceChildren();
});

function wire(root) {
  root.querySelectorAll("[data-dialog-open]:not([data-wired])").forEach((button) => {
    button.dataset.wired = "1";
    button.addEventListener("click", () => {
      const dialog = document.getElementById(button.dataset.dialogOpen);
      if (dialog && !dialog.open) dialog.showModal();
    });
  });
  root.querySelectorAll("[data-dialog-close]:not([data-wired])").forEach((button) => {
    button.dataset.wired = "1";
    button.addEventListener("click", () => button.closest("dialog").close());
  });
  root.querySelectorAll("[data-dismiss]:not([data-wired])").forEach((button) => {
    button.dataset.wired = "1";
    button.addEventListener("click", () => button.parentElement.remove());
  });
  root.querySelectorAll("select[data-submit-on-change]:not([data-wired]), input[data-submit-on-change]:not([data-wired])").forEach((select) => {
    select.dataset.wired = "1";
    select.addEventListener("change", () => select.form.requestSubmit());
  });
  root.querySelectorAll("[data-counter]:not([data-wired])").forEach((field) => {
    field.dataset.wired = "1";
    const out = document.getElementById(field.dataset.counter);
    const show = () => { out.textContent = `${field.value.length} / ${field.maxLength}`; };
    field.addEventListener("input", show);
    show();
  });
  root.querySelectorAll("[data-sse]:not([data-wired])").forEach(follow);
  // A dialog the server sends open (an htmx fragment, a step that needs the user's
  // confirmation) opens itself; Esc or its close button closes it.
  root.querySelectorAll("dialog[data-show]:not([data-wired])").forEach((dialog) => {
    dialog.dataset.wired = "1";
    if (!dialog.open) dialog.showModal();
  });
  // A search box inside a form: Enter searches, it does not submit the form.
  root.querySelectorAll("input[data-no-submit]:not([data-wired])").forEach((input) => {
    input.dataset.wired = "1";
    input.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
  });
}

// A running instance's progress and log: the server sends `progress` (an HTML fragment for
// the element), `log` (lines to append to data-sse-log) and a final `done`, on which we close
// (else the browser reconnects by itself and the stream starts over).
function follow(element) {
  element.dataset.wired = "1";
  const source = new EventSource(element.dataset.sse);
  const log = element.dataset.sseLog ? document.getElementById(element.dataset.sseLog) : null;
  source.addEventListener("progress", (event) => { element.innerHTML = event.data; });
  source.addEventListener("log", (event) => {
    if (!log) return;
    log.append(event.data + "\n");
    log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("done", (event) => {
    source.close();
    if (event.data) element.innerHTML = event.data;
    element.dispatchEvent(new CustomEvent("sse-done", { bubbles: true }));
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) element.dataset.closed = "1"; };
}
