// 手机看店门户: platform recording (docs/media.md) — a device's recording windows, the recordings list,
// and the VOD player (hls.js, vendored: /hls.light.min.js, shared with the live player).  Loaded after app.js; uses its helpers (h, api, form, page …).
"use strict";

const WEEKDAYS = ["周日", "周一", "周二", "周三", "周四", "周五", "周六"];

function seconds(text) {
  const [hh, mm, ss] = text.split(":").map((x) => parseInt(x, 10));
  return hh * 3600 + mm * 60 + (ss || 0);
}

function duration(s) {
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  return (h ? `${h}:` : "") + `${String(m).padStart(h ? 2 : 1, "0")}:${String(r).padStart(2, "0")}`;
}

function megabytes(bytes) {
  return (bytes / 1048576).toFixed(1) + " MB";
}

// -- the device page: its channels' recording windows (spec 002's courses)

async function scheduleCard(devId, d, mayControl) {
  const channel = h("select", { name: "channel" }, d.channels.map((c) => h("option", { value: c.channel_no }, c.name || `通道 ${c.channel_no}`)));
  const list = h("tbody");
  const base = () => `/devices/${devId}/channels/${channel.value}/schedules`;
  async function load() {
    try {
      const data = await api("GET", base());
      list.replaceChildren(...(data.items.length ? data.items.map((s) => h("tr", { "data-schedule": s.id },
        h("td", null, WEEKDAYS[s.weekday]), h("td", null, `${s.start}–${s.end}`), h("td", null, duration(s.duration)),
        h("td", null, mayControl ? h("button", { class: "plain", onclick: async () => {
          try { await api("DELETE", `${base()}/${s.id}`); toast("已删除录像计划"); load(); } catch (e) { toast(e.message); }
        } }, "删除") : ""))) : [h("tr", null, h("td", { colspan: "4", class: "muted" }, "没有平台录像计划"))]));
    } catch (e) { list.replaceChildren(h("tr", null, h("td", { colspan: "4", class: "muted" }, e.message))); }
  }
  channel.addEventListener("change", load);
  let f = null;
  if (mayControl) {
    f = form([
      h("select", { name: "weekday" }, WEEKDAYS.map((w, i) => h("option", { value: String(i) }, w))),
      h("input", { name: "start", type: "time", step: "1", required: true, value: "09:00:00" }),
      h("input", { name: "minutes", type: "number", min: "1", max: "1440", required: true, value: "60", title: "分钟" }), "分钟",
    ], async (v) => {
      const start = v.start.length === 5 ? v.start + ":00" : v.start;
      await api("POST", base(), { weekday: +v.weekday, start, duration: Math.round(+v.minutes * 60) });
      toast("已添加录像计划"); load();
    }, "添加录像计划");
    f.id = "schedule-form";
  }
  load();
  return h("div", { class: "card" }, h("h2", null, "平台录像计划（每周，时间不能重叠、不能跨天）"),
    h("div", { class: "toolbar" }, channel, h("a", { href: "#/recordings?devid=" + devId }, "查看录像")),
    h("div", { class: "table-wrap" }, h("table", { id: "schedules" }, h("thead", null, h("tr", null,
      h("th", null, "星期"), h("th", null, "时间"), h("th", null, "时长"), h("th", null, ""))), list)), f);
}

// -- recordings

async function recordingsPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = { devid: params.get("devid") || "", from: params.get("from") || "", to: params.get("to") || "", page: params.get("page") || "1" };
  const go = (changes) => {
    const next = new URLSearchParams({ ...query, ...changes });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    location.hash = "#/recordings?" + next.toString();
  };
  const data = await api("GET", "/recordings?" + new URLSearchParams(Object.fromEntries(
    Object.entries({ ...query, per_page: "20" }).filter(([, v]) => v))).toString());
  const rows = data.items.map((r) => h("tr", { "data-recording": r.id },
    h("td", null, r.snapshot ? h("img", { src: r.snapshot, class: "thumb", alt: "" }) : h("span", { class: "muted" }, "—")),
    h("td", null, r.dev_id, h("span", { class: "muted" }, ` / ${r.channel_no}`)),
    h("td", null, when(r.started_at)), h("td", { class: "wide" }, duration(r.duration)),
    h("td", { class: "wide" }, megabytes(r.size)),
    h("td", null, r.complete ? [
      h("a", { href: "#/recording/" + r.id, class: "play" }, "播放"), " ",
      h("a", { href: r.download, download: "" }, "下载"), " ",
      h("button", { class: "plain", onclick: async () => {
        if (!confirm("删除这段录像？")) return;
        try { await api("DELETE", "/recordings/" + r.id); toast("已删除"); route(); } catch (e) { toast(e.message); }
      } }, "删除")] : h("span", { class: "recording-now" }, "录制中"))));
  page("平台录像", form([
    h("input", { name: "devid", placeholder: "设备编码", value: query.devid }),
    h("input", { name: "from", type: "datetime-local", value: query.from }),
    h("input", { name: "to", type: "datetime-local", value: query.to }),
  ], (v) => go({ devid: v.devid, from: v.from, to: v.to, page: "1" }), "查找"),
  h("div", { class: "table-wrap" }, h("table", { id: "recordings" },
    h("thead", null, h("tr", null, h("th", null, ""), h("th", null, "设备 / 通道"), h("th", null, "开始"),
      h("th", { class: "wide" }, "时长"), h("th", { class: "wide" }, "大小"), h("th", null, ""))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: "6", class: "muted" }, "没有录像"))))),
  pager(data, (p) => go({ page: String(p) })));
}

async function recordingPage(id) {
  const r = await api("GET", "/recordings/" + id);
  const video = h("video", { id: "vod", controls: true, muted: true, playsinline: true, autoplay: true });
  const status = h("p", { class: "muted", id: "vod-status" }, "正在加载…");
  page(`录像 · ${r.dev_id} 通道 ${r.channel_no}`,
    h("div", { class: "card" }, video, status,
      h("p", null, `${when(r.started_at)} 起，${duration(r.duration)}（从这一段开始播放，可拖动到同一次录像的其他段）`, " ",
        h("a", { href: r.download, download: "" }, "下载 MP4"), " ",
        h("a", { href: "#/recordings?devid=" + r.dev_id }, "返回列表"))));
  const source = `${API}/recordings/${id}/index.m3u8`;
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls({ enableWorker: false });
    hls.on(Hls.Events.ERROR, (_, e) => { if (e.fatal) status.textContent = "播放出错：" + e.details; });
    hls.on(Hls.Events.MANIFEST_PARSED, () => { status.textContent = ""; video.play().catch(() => {}); });
    hls.loadSource(source);
    hls.attachMedia(video);
    state.player = () => hls.destroy();
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = source;
    status.textContent = "";
  } else {
    status.textContent = "此浏览器不能播放 HLS";
  }
}
