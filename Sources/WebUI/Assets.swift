import Foundation
import WebAPI

/// The stylesheet and the script, served from `/static/`: one small file each, no build step.
enum Assets {
    static func answer(_ segments: [String]) -> APIResponse? {
        guard segments.count == 2, segments[0] == "static" else { return nil }
        let (type, text): (String, String)
        switch segments[1] {
        case "wfd.css": (type, text) = ("text/css; charset=utf-8", stylesheet)
        case "wfd.js": (type, text) = ("text/javascript; charset=utf-8", script)
        default: return nil
        }
        return APIResponse(
            status: 200, contentType: type, body: Data(text.utf8),
            headers: ["Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"])
    }

    static let stylesheet = """
        :root { --fg: #1d232a; --muted: #65707c; --line: #d9dee3; --bg: #fbfbfc; --accent: #2459c5;
          --ok: #1f8f4e; --bad: #c9372c; --warn: #b7791f; --run: #2f74d0; --idle: #8a96a3; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; gap: 24px; align-items: center; padding: 10px 24px; background: #fff; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 700; font-size: 18px; color: var(--fg); text-decoration: none; }
        header nav a { margin-right: 16px; }
        header .user { margin-left: auto; color: var(--muted); display: flex; gap: 10px; align-items: center; }
        main { padding: 16px 24px 48px; max-width: 1280px; }
        a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
        h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-weight: 600; color: var(--muted); background: #f4f6f8; }
        code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
        pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow: auto; max-height: 70vh; }
        pre.log { background: #14181d; color: #dfe6ee; white-space: pre-wrap; }
        .muted { color: var(--muted); } .error { color: var(--bad); } .notice { color: var(--ok); }
        p.error, p.notice { padding: 8px 12px; background: #fff; border-left: 4px solid currentColor; }
        .state { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; color: #fff; background: var(--idle); }
        .st-succeeded { background: var(--ok); } .st-failed, .st-timed_out, .st-oom_killed { background: var(--bad); }
        .st-running, .st-queued { background: var(--run); } .st-waiting, .st-retry_wait, .st-interrupted { background: var(--warn); }
        .st-cancelled, .st-skipped, .st-pending { background: var(--idle); }
        svg text { font-size: 12px; fill: var(--fg); }
        svg .node rect { stroke: rgba(0,0,0,.15); } svg .node text { fill: #fff; font-weight: 600; }
        svg .node.st-succeeded rect { fill: var(--ok); } svg .node.st-failed rect { fill: var(--bad); }
        svg .node.st-running rect { fill: var(--run); } svg .node.st-waiting rect, svg .node.st-retry_wait rect { fill: var(--warn); }
        svg .node.st-pending rect, svg .node.st-skipped rect, svg .node.st-cancelled rect { fill: var(--idle); }
        svg .node.st-interrupted rect { fill: var(--warn); }
        svg .edge { fill: none; stroke: #9aa5b1; stroke-width: 1.5; } svg .axis { stroke: var(--line); }
        svg rect.bar { fill: var(--idle); } svg rect.bar.st-succeeded { fill: var(--ok); }
        svg rect.bar.st-failed, svg rect.bar.st-timed_out { fill: var(--bad); } svg rect.bar.st-running { fill: var(--run); }
        .scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); padding: 6px; }
        form.actions, form.filter, .decision form { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; margin: 12px 0; }
        form.inline { display: inline; }
        label { display: flex; flex-direction: column; gap: 2px; color: var(--muted); font-size: 12px; }
        input, select, textarea { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
        button { font: inherit; padding: 6px 14px; border: 0; border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
        button.danger { background: var(--bad); } button.link { background: none; color: var(--accent); padding: 0; }
        .decision { background: #fff; border: 1px solid var(--line); padding: 12px 16px; margin: 12px 0; }
        .decision h2 { margin: 0 0 6px; } .message { font-size: 15px; white-space: pre-wrap; }
        dl.data dt { font-weight: 600; } dl.data dd { margin: 0 0 8px; }
        .why { border-left: 4px solid var(--bad); background: #fff; padding: 4px 16px; margin: 12px 0; }
        .spend { background: #fff; border: 1px solid var(--line); padding: 6px 12px; display: inline-block; }
        .signin { max-width: 460px; } .signin form { display: flex; flex-direction: column; gap: 12px; }
        .yaml .k { color: #8a3ab9; } .yaml .c { color: var(--muted); font-style: italic; }
        table.fields { width: auto; } .call { font-size: 12px; }
        .tool { margin: 2px 0; } pre.tool-result { margin: 2px 0 6px 16px; font-size: 12px; white-space: pre-wrap; }
        """

    static let script = """
        // wfd's pages read without this script; it keeps them live and follows logs.
        (function () {
          "use strict";
          var filter = document.getElementById("filter");
          function applyFilter() {
            if (!filter) return;
            var q = filter.value.toLowerCase();
            document.querySelectorAll("tr[data-job]").forEach(function (row) {
              row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
            });
          }
          if (filter) filter.addEventListener("input", applyFilter);

          // A part of the page marked data-live="N" is read again every N seconds.
          var live = document.getElementById("live");
          function refresh() {
            fetch(location.href, { credentials: "same-origin" }).then(function (response) {
              return response.ok ? response.text() : null;
            }).then(function (text) {
              if (text === null) return;
              var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
              if (fresh) { live.innerHTML = fresh.innerHTML; live.dataset.live = fresh.dataset.live; applyFilter(); }
            }).catch(function () {}).then(function () {
              var every = Number(live.dataset.live);
              if (every > 0) setTimeout(refresh, every * 1000);
            });
          }
          if (live && Number(live.dataset.live) > 0) setTimeout(refresh, Number(live.dataset.live) * 1000);

          // A log that is still written to, followed with Server-Sent Events from where the page ends.
          var log = document.getElementById("log");
          if (log && log.dataset.follow && log.dataset.ended !== "1") {
            var source = new EventSource(log.dataset.follow + "?offset=" + log.dataset.offset);
            source.onmessage = function (event) {
              var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
              log.append(event.data + "\\n");
              if (atEnd) log.scrollTop = log.scrollHeight;
            };
            source.addEventListener("end", function (event) {
              var ended = JSON.parse(event.data);
              document.getElementById("log-state").textContent = "ended: " + ended.outcome;
              log.dataset.ended = "1";
              source.close();
              setTimeout(function () { location.reload(); }, 200);  // its exit status and times
            });
          }
        })();
        """
}
