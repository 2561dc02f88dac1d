// benchfarm console: charts (uPlot, vendored) and live job progress (server-sent events).
// Every number is also in the page's HTML tables; this script only adds to them.
(function () {
  "use strict";
  var COLOURS = ["#0b57d0", "#c5221f", "#137333", "#b06000", "#7627bb"];

  function drawChart(fig) {
    var spec = JSON.parse(fig.querySelector("script.chart-data").textContent);
    var area = fig.querySelector(".chart-area");
    if (!window.uPlot || !area || !spec.data[0].length) { return; }
    var series = [{ label: spec.x_label }];
    spec.legends.forEach(function (name, i) {
      series.push({ label: name, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true,
                    points: { show: spec.data[0].length < 60 } });
    });
    var markers = spec.markers || [];
    var opts = {
      width: Math.min(area.clientWidth || 900, 1100), height: 240, series: series,
      scales: { x: { time: false } },
      axes: [{ label: spec.x_label }, { label: spec.unit }],
      hooks: { draw: [function (u) {
        var ctx = u.ctx; ctx.save(); ctx.strokeStyle = "#c5221f"; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
        markers.forEach(function (x) {
          var px = u.valToPos(x, "x", true);
          ctx.beginPath(); ctx.moveTo(px, u.bbox.top); ctx.lineTo(px, u.bbox.top + u.bbox.height); ctx.stroke();
        });
        ctx.restore();
      }] }
    };
    new window.uPlot(opts, spec.data, area);
    fig.setAttribute("data-drawn", "true");
  }

  function followJob(live) {
    var id = live.getAttribute("data-job");
    var source = new EventSource("/ui/jobs/" + encodeURIComponent(id) + "/stream");
    var status = document.getElementById("job-status");
    source.addEventListener("progress", function (ev) {
      var p = JSON.parse(ev.data);
      status.textContent = p.status;
      status.className = "status status-" + p.status;
      document.getElementById("reps-done").textContent = p.done;
      var bar = document.getElementById("job-progress");
      bar.value = p.percent; bar.textContent = p.percent + "%";
      if (p.final) {
        source.close();
        document.getElementById("live-note").textContent = "finished; loading the results…";
        window.location.reload();
      }
    });
    source.addEventListener("error", function () {
      document.getElementById("live-note").textContent = "live updates interrupted; reload the page";
    });
  }

  document.querySelectorAll("figure.chart").forEach(drawChart);
  var live = document.getElementById("live");
  if (live && live.getAttribute("data-final") === "false" && window.EventSource) { followJob(live); }
})();
