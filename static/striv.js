/* striv: small behaviours htmx does not cover. Event delegation only, so swapped-in content works too. */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* --- toasts: announce, dismiss, fade out calm messages after a while --- */
  function toastDismiss(toast) {
    toast.classList.add("leaving");
    setTimeout(function () { toast.remove(); }, 300);
  }
  function toastsInit() {
    var region = $("#toasts");
    if (!region) return;
    // Live regions announce changes, not content present at load: re-insert the toasts so they are read out.
    var toasts = $all("[data-toast]", region);
    toasts.forEach(function (toast) { toast.remove(); });
    setTimeout(function () {
      toasts.forEach(function (toast) {
        region.appendChild(toast);
        if (!toast.classList.contains("toast-error") && !toast.classList.contains("toast-warning")) {
          setTimeout(function () { if (!toast.matches(":hover, :focus-within")) toastDismiss(toast); }, 7000);
        }
      });
    }, 150);
  }

  /* --- bulk selection on the job list --- */
  function bulkUpdate() {
    var rows = $all("[data-select-row]");
    var chosen = rows.filter(function (box) { return box.checked; }).length;
    var count = $("#bulk-count");
    if (count) count.textContent = chosen + " selected";
    $all("[data-bulk-button]").forEach(function (button) { button.disabled = chosen === 0; });
    var all = $("[data-select-all]");
    if (all) {
      all.checked = rows.length > 0 && chosen === rows.length;
      all.indeterminate = chosen > 0 && chosen < rows.length;
    }
  }

  /* --- dialog for confirmations loaded by htmx --- */
  function dialogClose() {
    var dialog = $("#dialog");
    if (dialog && dialog.open) dialog.close();
  }

  /* --- logs --- */
  var WRAP_KEY = "striv.log.wrap";
  function logWrapApply() {
    var pre = $("#log-text");
    var box = $("[data-log-wrap]");
    if (!pre || !box) return;
    var wrap = localStorage.getItem(WRAP_KEY) !== "false";
    box.checked = wrap;
    pre.classList.toggle("wrap", wrap);
  }
  function logScrollToEnd() {
    var pre = $("#log-text");
    if (pre) pre.scrollTop = pre.scrollHeight;
  }
  // Used by the follow element's trigger filter: poll only while "Follow" is ticked and the page is visible.
  window.strivFollowing = function () {
    var box = $("#log-follow-toggle");
    return !!box && box.checked && document.visibilityState === "visible";
  };

  document.addEventListener("DOMContentLoaded", function () {
    toastsInit();
    bulkUpdate();
    logWrapApply();
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      $all("[data-select-row]").forEach(function (box) { box.checked = target.checked; });
      bulkUpdate();
    } else if (target.matches("[data-select-row]")) {
      bulkUpdate();
    } else if (target.matches("[data-log-wrap]")) {
      localStorage.setItem(WRAP_KEY, target.checked ? "true" : "false");
      logWrapApply();
    } else if (target.matches("#log-follow-toggle") && target.checked) {
      logScrollToEnd();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-toast-close], [data-remove-row], [data-dialog-close]");
    if (!target) return;
    if (target.matches("[data-toast-close]")) {
      toastDismiss(target.closest("[data-toast]"));
    } else if (target.matches("[data-remove-row]")) {
      var row = target.closest("tr");
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      var focus = next ? $("input[name=param_key]", next) : $("[hx-get*='param-row']");
      if (focus) focus.focus();
      if (window.htmx) window.htmx.trigger(document.body, "preview");
    } else if (target.matches("[data-dialog-close]") && target.closest("dialog")) {
      event.preventDefault();
      dialogClose();
    }
  });

  // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var tabs = $all("[role=tab]", tab.parentElement);
    var index = tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
    var next = tabs[(index + tabs.length) % tabs.length];
    next.focus();
    next.click();
    event.preventDefault();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog-body") {
      var dialog = $("#dialog");
      if (dialog && !dialog.open) dialog.showModal();
      var focus = $("[autofocus]", target);
      if (focus) focus.focus();
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "job-rows" || target.closest("#job-rows")) bulkUpdate();
    if (target.id === "log-panel") {
      logWrapApply();
      logScrollToEnd();
    } else if (target.closest("#log-panel")) {
      logWrapApply();
    }
    if (target.classList && target.classList.contains("param-row")) {
      if (window.htmx) window.htmx.trigger(document.body, "preview");
    }
  });

  // "Load earlier" prepends text: keep what the reader was looking at in place.
  var heightBefore = 0;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "log-text") heightBefore = event.detail.target.scrollHeight;
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var pre = event.detail.target;
    if (!pre || pre.id !== "log-text") return;
    if (window.strivFollowing() && $("#log-follow[hx-get]")) {
      logScrollToEnd();
    } else if (heightBefore && pre.scrollTop < 5) {
      pre.scrollTop += pre.scrollHeight - heightBefore;
    }
  });

  document.addEventListener("close", function (event) {
    if (event.target.id === "dialog") $("#dialog-body").innerHTML = "";
  }, true);
})();
