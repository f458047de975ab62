// Filter and sort the page's tables. The page reads the same without it.
(function () {
  "use strict";
  document.querySelectorAll("p.filter").forEach(function (p) {
    var input = p.querySelector("input");
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) { return; }
    p.hidden = false;
    input.addEventListener("input", function () {
      var needle = input.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
  });
  // Long sections start folded; printing unfolds them. Without JavaScript they stay open.
  var details = document.querySelectorAll("details");
  details.forEach(function (d) { d.open = false; });
  window.addEventListener("beforeprint", function () {
    details.forEach(function (d) { d.open = true; });
  });
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, column) {
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      var sort = function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[column];
          return cell ? (cell.getAttribute("data-sort") || cell.textContent) : "";
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var order = (x !== "" && y !== "" && !isNaN(x) && !isNaN(y)) ? Number(x) - Number(y) : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  });
}());
