// A stress run's progress: poll the run's JSON endpoint every second until it is done, then reload
// the page to show the results. Without scripts the page refreshes itself instead.
(function () {
  var box = document.getElementById("progress-box");
  if (!box) { return; }
  var bar = document.getElementById("progress");
  var text = document.getElementById("progress-text");
  var status = document.getElementById("run-status");
  function number(n) { return n.toLocaleString("en-US"); }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) { return answer.json(); })
      .then(function (p) {
        bar.max = p.total; bar.value = p.done;
        text.textContent = number(p.done) + " / " + number(p.total);
        if (p.status === "running") { status.textContent = box.dataset.runningLabel; }
        if (p.status === "done" || p.status === "failed") {
          status.textContent = p.status === "done" ? box.dataset.doneLabel : box.dataset.failedLabel;
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
