// The admin's Traffic pages (routing/admin_traffic.py): draws the figures the page carries
// as JSON (#traffic-data, written by json_script) with plotly.js. Each chart's element id
// says what it shows; a page has only the elements of its scope (all, carrier, tenant).
"use strict";

(function () {
  const source = document.getElementById("traffic-data");
  if (!source || typeof Plotly === "undefined") {
    return;
  }
  const data = JSON.parse(source.textContent);
  const config = { displayModeBar: false, responsive: true };
  const margin = { l: 55, r: 65, t: 40, b: 60 };
  const series = data.series;

  // Names are what operators typed: plotly reads a subset of HTML in its labels (<b>, <a>,
  // entities), so they go to it with &, < and > as entities, and show as typed.
  function label(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function plot(id, traces, layout) {
    const element = document.getElementById(id);
    if (element) {
      Plotly.newPlot(element, traces, Object.assign({ margin: margin }, layout), config);
    }
  }

  // Time axes: hours within a day, days beyond (one row of labels: plotly's second row
  // of dates would run into the legend below the axis).
  const span = Date.parse(series.t[series.t.length - 1]) - Date.parse(series.t[0]);
  const timeAxis = { type: "date", tickformat: span > 86400000 ? "%b %d" : "%H:%M" };
  const perStep = series.step / 60 + "-minute steps";
  plot("chart-rate", [
    { name: "calls/s", x: series.t, y: series.calls_per_s, type: "scatter", mode: "lines",
      line: { shape: "hv" } },
    { name: "attempts/s", x: series.t, y: series.attempts_per_s, type: "scatter",
      mode: "lines", line: { shape: "hv", dash: "dot" } },
  ], { title: { text: "Calls and attempts per second (" + perStep + ")" },
       xaxis: timeAxis, yaxis: { title: { text: "per second" }, rangemode: "tozero" },
       legend: { orientation: "h" } });

  const outcomes = [
    ["answered", "answered (2xx)", "#2ca02c"],
    ["failed_4xx", "4xx", "#ff7f0e"],
    ["failed_5xx", "5xx", "#d62728"],
    ["failed_6xx", "6xx", "#9467bd"],
    ["other", "other", "#7f7f7f"],
  ];
  plot("chart-outcomes", outcomes.map(function (o) {
    return { name: o[1], x: series.t, y: series[o[0]], type: "bar", marker: { color: o[2] } };
  }), { title: { text: "Attempts by outcome" }, barmode: "stack", xaxis: timeAxis,
        yaxis: { title: { text: "attempts per step" } }, legend: { orientation: "h" } });

  plot("chart-quality", [
    { name: "ASR %", x: series.t, y: series.asr, type: "scatter", mode: "lines+markers",
      connectgaps: false },
    { name: "PDD p50 (ms)", x: series.t, y: series.pdd_p50, type: "scatter",
      mode: "lines", yaxis: "y2", line: { dash: "dot" } },
  ], { title: { text: "ASR and post-dial delay" }, xaxis: timeAxis,
       yaxis: { title: { text: "ASR %" }, range: [0, 100] },
       yaxis2: { title: { text: "PDD p50 (ms)" }, overlaying: "y", side: "right",
                 rangemode: "tozero" },
       legend: { orientation: "h" } });

  // The answered least-cost calls' money per step, each currency its own traces (amounts
  // are never added across currencies); revenue and margin only where a customer rate was.
  const money = series.money || {};
  const moneyTraces = [];
  Object.keys(money).forEach(function (currency) {
    const line = money[currency];
    const unit = " (" + label(currency) + ")";
    moneyTraces.push(
      { name: "revenue" + unit, x: series.t, y: line.revenue, type: "scatter", mode: "lines",
        line: { shape: "hv" } },
      { name: "cost" + unit, x: series.t, y: line.cost, type: "scatter", mode: "lines",
        line: { shape: "hv", dash: "dot" } },
      { name: "margin" + unit, x: series.t, y: line.margin, type: "bar", opacity: 0.5 });
  });
  if (moneyTraces.length) {
    plot("chart-money", moneyTraces, {
      title: { text: "Cost, revenue and margin (" + perStep + ")" }, xaxis: timeAxis,
      yaxis: { title: { text: "per step" } }, legend: { orientation: "h" } });
  }

  if (data.carriers) {
    const names = data.carriers.map(function (c) { return label(c.name); });
    const pick = function (period, field) {
      return data.carriers.map(function (c) { return c[period] ? c[period][field] : null; });
    };
    plot("chart-carriers", [
      { name: "ASR % last hour", x: names, y: pick("hour", "asr"), type: "bar" },
      { name: "ASR % last day", x: names, y: pick("day", "asr"), type: "bar" },
      { name: "ACD s last day", x: names, y: pick("day", "acd"), type: "scatter",
        mode: "markers", yaxis: "y2", marker: { size: 10, symbol: "diamond" } },
    ], { title: { text: "ASR and ACD per carrier" }, barmode: "group",
         yaxis: { title: { text: "ASR %" }, range: [0, 100] },
         yaxis2: { title: { text: "ACD (s)" }, overlaying: "y", side: "right",
                   rangemode: "tozero" },
         legend: { orientation: "h" } });
  }
  if (data.customers) {
    plot("chart-customers", [
      { name: "calls", x: data.customers.map(function (c) { return label(c.name); }),
        y: data.customers.map(function (c) { return c.calls; }), type: "bar" },
    ], { title: { text: "Top customers (calls)" } });
  }
  if (data.parts) {
    plot("chart-parts", [
      { name: "attempts", x: data.parts.map(function (p) { return label(p.name); }),
        y: data.parts.map(function (p) { return p.attempts; }), type: "bar" },
    ], { title: { text: "Attempts per " + (document.getElementById("traffic").dataset.scope
                                          === "carrier" ? "gateway" : "carrier") } });
  }
  plot("chart-codes", [
    { name: "attempts", x: data.codes.map(function (c) { return String(c.code); }),
      y: data.codes.map(function (c) { return c.attempts; }), type: "bar",
      marker: { color: "#d62728" } },
  ], { title: { text: "Top failure codes" }, xaxis: { type: "category" } });
})();
