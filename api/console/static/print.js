// The report's print button (a script file: the console's pages allow no inline script).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
});
