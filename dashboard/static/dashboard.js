// Draws each figure embedded in the page: <div data-figure="ID"> + <script type="application/json" id="ID">.
document.querySelectorAll("[data-figure]").forEach(function (el) {
  var fig = JSON.parse(document.getElementById(el.dataset.figure).textContent);
  Plotly.newPlot(el, fig.data, fig.layout, {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  });
  // A point whose customdata is a path opens it (a device on the network map).
  el.on("plotly_click", function (event) {
    var target = event.points.length ? event.points[0].customdata : null;
    if (typeof target === "string" && target.charAt(0) === "/") window.location.assign(target);
  });
});
