// 手机看店门户: one page over the REST API (/api/v1, docs/rest-api.md).  No framework, no build step;
// the page's text is built with DOM calls (never innerHTML), so nothing a device or a user typed runs as markup.
"use strict";

const API = "/api/v1";
const state = { me: null, timer: null };

// -- small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : "";
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = "show";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ""; }, 3500);
}

const MESSAGES = {
  bad_credentials: "帐号或密码错误", too_many_failures: "失败次数过多，请稍后再试", unauthenticated: "登录已过期，请重新登录",
  forbidden: "没有权限", not_found: "不存在", invalid: "输入有误", exists: "已存在", already_bound: "设备已被绑定",
  over_limit: "已达可绑定设备上限", wrong_dev_key: "设备验证码错误", wrong_password: "原密码错误",
  device_offline: "设备不在线", device_refused: "设备未响应或拒绝", unavailable: "服务暂不可用", csrf: "请刷新页面后重试",
  overlap: "与已有录像计划时间重叠", crosses_midnight: "不支持跨天（结束时间不能超过 23:59:59）", in_progress: "正在录制，完成后才能删除",
  recording_unavailable: "录像文件不可用", campaign_closed: "升级任务已结束", no_newer_firmware: "没有更新的固件",
  too_large: "文件过大（固件最大 64 MB）", timeout: "上传超时",
};

class ApiError extends Error {
  constructor(status, body) {
    super((MESSAGES[body.error] || body.error) + (body.message ? "：" + body.message : ""));
    this.status = status;
    this.code = body.error;
  }
}

async function api(method, path, body, raw) {
  const headers = {};
  let payload;
  if (raw !== undefined) { headers["Content-Type"] = "text/csv"; payload = raw; }
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("kandian_csrf");
  const r = await fetch(API + path, { method, headers, body: payload, credentials: "same-origin" });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({ error: "unavailable", message: "" }));
  if (!r.ok) {
    if (r.status === 401 && path !== "/login" && state.me) { expired(); }
    throw new ApiError(r.status, data);
  }
  return data;
}

function expired() {
  state.me = null;
  sessionStorage.setItem("kandian_expired", "1");
  location.hash = "#/login";
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) : "—";
}

function onlineBadge(online) {
  return h("span", { class: online ? "on-line" : "off-line" }, online ? "在线" : "离线");
}

const TYPES = { 1: "IPC", 2: "DVR", 3: "NVR" };
const ALARMS = { 1: "移动侦测", 2: "红外侦测", 3: "手动报警", 4: "外部开关量" };
const ACCESS = { own: "我的", control: "共享（可控制）", view: "共享（只读）" };

function page(title, ...children) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", null, title), ...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  document.title = title + " · 手机看店";
}

function pager(data, go) {
  const pages = Math.max(1, Math.ceil(data.total / data.per_page));
  return h("div", { class: "pager" },
    h("button", { class: "plain", disabled: data.page <= 1, onclick: () => go(data.page - 1) }, "上一页"),
    h("span", { class: "muted" }, `第 ${data.page} / ${pages} 页，共 ${data.total} 条`),
    h("button", { class: "plain", disabled: data.page >= pages, onclick: () => go(data.page + 1) }, "下一页"));
}

function form(fields, submit, label) {
  const f = h("form", { class: "inline" }, ...fields, h("button", { type: "submit" }, label));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(f).entries());
    try { await submit(values, f); } catch (err) { toast(err.message); }
  });
  return f;
}

// -- navigation

const OPERATOR_NAV = [["#/devices", "设备"], ["#/recordings", "录像"], ["#/users", "用户"], ["#/firmware", "固件与厂商"], ["#/logs", "日志"], ["#/stats", "统计"]];
const USER_NAV = [["#/cameras", "我的摄像机"], ["#/recordings", "录像"], ["#/alarms", "报警"], ["#/settings", "设置"]];

function chrome() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!state.me) { nav.replaceChildren(); who.replaceChildren(); return; }
  const items = state.me.role === "operator" ? OPERATOR_NAV : USER_NAV;
  const here = location.hash.split("?")[0];
  nav.replaceChildren(...items.map(([href, text]) => h("a", { href, class: here.startsWith(href) ? "on" : null }, text)));
  const role = state.me.role === "operator" ? (state.me.operator_role === "admin" ? "管理员" : "只读管理员") : "用户";
  who.replaceChildren(`${state.me.account}（${role}）`, h("button", { class: "plain", onclick: logout }, "退出"));
}

async function logout() {
  try { await api("POST", "/logout"); } catch (e) { /* gone already */ }
  state.me = null;
  location.hash = "#/login";
}

const ROUTES = [
  [/^#\/login$/, loginPage],
  [/^#\/devices$/, devicesPage],
  [/^#\/device\/(\d{11})$/, devicePage],
  [/^#\/users$/, usersPage],
  [/^#\/user\/(\d+)$/, userPage],
  [/^#\/firmware$/, firmwarePage],
  [/^#\/upgrade\/(\d+)$/, upgradePage],
  [/^#\/logs$/, logsPage],
  [/^#\/stats$/, statsPage],
  [/^#\/cameras$/, camerasPage],
  [/^#\/camera\/(\d{11})$/, devicePage],
  [/^#\/alarms$/, alarmsPage],
  [/^#\/settings$/, settingsPage],
  // rec.js (loaded after this file): platform recordings
  [/^#\/recordings$/, (...a) => recordingsPage(...a)],
  [/^#\/recording\/(\d+)$/, (...a) => recordingPage(...a)],
];

async function route() {
  clearInterval(state.timer);
  if (state.player) { state.player(); state.player = null; }
  const hash = location.hash || "#/";
  if (hash !== "#/login" && !state.me) {
    try { state.me = await api("GET", "/me"); } catch (e) { if (!state.me) { location.hash = "#/login"; return; } }
  }
  if (hash === "#/" || hash === "") {
    location.hash = state.me && state.me.role === "operator" ? "#/devices" : "#/cameras";
    return;
  }
  chrome();
  for (const [pattern, view] of ROUTES) {
    const m = hash.split("?")[0].match(pattern);
    if (m) {
      try { await view(...m.slice(1)); } catch (e) { if (e.status !== 401) page("出错了", h("p", { class: "error" }, e.message)); }
      return;
    }
  }
  page("页面不存在", h("p", null, h("a", { href: "#/" }, "返回首页")));
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// -- login

function loginPage() {
  state.me = null;
  chrome();
  const error = h("p", { class: "error", id: "login-error" },
    sessionStorage.getItem("kandian_expired") ? "登录已过期，请重新登录" : "");
  sessionStorage.removeItem("kandian_expired");
  const f = h("form", { class: "card login", id: "login" },
    h("h1", null, "登录"),
    h("input", { name: "account", placeholder: "手机号或管理员帐号", autocomplete: "username", required: true }),
    h("input", { name: "password", type: "password", placeholder: "密码", autocomplete: "current-password", required: true }),
    error, h("button", { type: "submit" }, "登录"));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(f).entries());
    try {
      const done = await api("POST", "/login", { account: v.account, password: v.password });
      state.me = { account: done.account, role: done.role, operator_role: done.operator_role };
      location.hash = done.role === "operator" ? "#/devices" : "#/cameras";
    } catch (err) { error.textContent = err.message; }
  });
  document.getElementById("main").replaceChildren(f);
  document.title = "登录 · 手机看店";
}

// -- operators: devices

async function devicesPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = { q: params.get("q") || "", online: params.get("online") || "", page: params.get("page") || "1" };
  const go = (changes) => {
    const next = new URLSearchParams({ ...query, ...changes });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    location.hash = "#/devices?" + next.toString();
  };
  const data = await api("GET", "/devices?" + new URLSearchParams({ ...query, per_page: "20" }).toString());
  const filters = form([
    h("input", { name: "q", placeholder: "设备编码 / 名称 / 型号", value: query.q }),
    h("select", { name: "online" }, h("option", { value: "" }, "全部"),
      h("option", { value: "true", selected: query.online === "true" }, "在线"),
      h("option", { value: "false", selected: query.online === "false" }, "离线")),
  ], (v) => go({ q: v.q, online: v.online, page: "1" }), "查找");
  const admin = state.me.operator_role === "admin";
  const chosen = new Set((sessionStorage.getItem("kandian_chosen") || "").split(",").filter(Boolean));
  const upgradeButton = admin ? h("button", { id: "upgrade-chosen", class: "plain", disabled: !chosen.size, onclick: () => {
    location.hash = "#/firmware?" + new URLSearchParams({ devices: [...chosen].join(",") }).toString();
  } }, `升级所选设备（${chosen.size}）`) : null;
  const choose = (devId) => h("td", { onclick: (e) => e.stopPropagation() }, h("input", { type: "checkbox", name: "choose", value: devId,
    "aria-label": "选择 " + devId, checked: chosen.has(devId), onchange: (e) => {
      if (e.target.checked) chosen.add(devId); else chosen.delete(devId);
      sessionStorage.setItem("kandian_chosen", [...chosen].join(","));
      upgradeButton.disabled = !chosen.size;
      upgradeButton.textContent = `升级所选设备（${chosen.size}）`;
    } }));
  const rows = data.items.map((d) => h("tr", { class: "link", "data-devid": d.dev_id, onclick: () => { location.hash = "#/device/" + d.dev_id; } },
    admin ? choose(d.dev_id) : null, h("td", null, d.dev_id), h("td", null, d.name || "—"), h("td", { class: "wide" }, TYPES[d.dev_type]),
    h("td", { class: "wide" }, d.manufacturer || "—"), h("td", { class: "wide" }, d.model || "—"),
    h("td", { class: "wide" }, d.dev_ver || "—"), h("td", null, onlineBadge(d.online)),
    h("td", { class: "wide" }, when(d.last_seen_at)), h("td", { class: "wide" }, d.owner || "—")));
  const add = admin ? h("div", { class: "card" }, h("h2", null, "添加设备"), form([
    h("input", { name: "dev_id", placeholder: "设备编码（11 位）", required: true }),
    h("input", { name: "dev_key", placeholder: "验证码 DevKey", required: true }),
    h("select", { name: "dev_type" }, h("option", { value: "1" }, "IPC"), h("option", { value: "2" }, "DVR"), h("option", { value: "3" }, "NVR")),
    h("input", { name: "model", placeholder: "型号" }),
    h("input", { name: "channels", type: "number", min: "1", max: "256", value: "1" }),
  ], async (v) => {
    await api("POST", "/devices", { dev_id: v.dev_id, dev_key: v.dev_key, dev_type: +v.dev_type, model: v.model, channels: +v.channels });
    toast("已添加 " + v.dev_id); route();
  }, "添加"), h("h2", null, "批量导入（CSV：dev_id,dev_key,dev_type,model,channels）"),
  h("input", { type: "file", accept: ".csv,text/csv", onchange: async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const done = await api("POST", "/devices/import", undefined, await file.text());
      toast(`导入：新增 ${done.added}，已存在 ${done.exists}，无效 ${done.invalid}`); route();
    } catch (err) { toast(err.message); }
  } })) : null;
  page("设备管理", filters,
    h("div", { class: "table-wrap" }, h("table", { id: "devices" },
      h("thead", null, h("tr", null, admin ? h("th", null, "") : null, h("th", null, "设备编码"), h("th", null, "名称"), h("th", { class: "wide" }, "类型"),
        h("th", { class: "wide" }, "厂商"), h("th", { class: "wide" }, "型号"), h("th", { class: "wide" }, "固件"),
        h("th", null, "状态"), h("th", { class: "wide" }, "最后在线"), h("th", { class: "wide" }, "用户"))),
      h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: "10", class: "muted" }, "没有设备"))))),
    h("div", { class: "toolbar" }, pager(data, (p) => go({ page: String(p) })), upgradeButton), add);
}

// -- a device (operators and users)

async function devicePage(devId) {
  const d = await api("GET", "/devices/" + devId);
  const operator = state.me.role === "operator";
  const admin = operator && state.me.operator_role === "admin";
  const mayControl = admin || d.access === "own" || d.access === "control";
  const live = h("dl", { class: "facts", id: "live" });
  const showLive = (x) => live.replaceChildren(
    h("dt", null, "状态"), h("dd", null, onlineBadge(x.online)),
    h("dt", null, "最后在线"), h("dd", null, when(x.last_seen_at)),
    h("dt", null, "最后登录"), h("dd", null, when(x.last_login_at)),
    h("dt", null, "固件版本"), h("dd", null, x.dev_ver || "—"),
    h("dt", null, "公网地址"), h("dd", null, x.addresses.public_ip ? `${x.addresses.public_ip}:${x.addresses.public_port}` : "—"),
    h("dt", null, "局域网地址"), h("dd", null, x.addresses.local_ip ? `${x.addresses.local_ip}:${x.addresses.rtsp_local_port}` : "—"),
    h("dt", null, "UPnP"), h("dd", null, x.addresses.upnp_ip ? `${x.addresses.upnp_ip}:${x.addresses.rtsp_upnp_port}（${x.addresses.upnp_reachable === true ? "可达" : x.addresses.upnp_reachable === false ? "不可达" : "未探测"}）` : "—"));
  showLive(d);
  state.timer = setInterval(async () => {
    try { showLive(await api("GET", "/devices/" + devId)); } catch (e) { clearInterval(state.timer); }
  }, 5000);
  const banner = d.firmware && d.firmware.newest
    ? h("div", { class: "banner", id: "upgrade-reminder" }, `有新固件 ${d.firmware.newest}（当前 ${d.firmware.current}）。升级时请勿断电、断网。`) : null;
  const facts = h("dl", { class: "facts" },
    h("dt", null, "设备编码"), h("dd", null, d.dev_id), h("dt", null, "类型"), h("dd", null, TYPES[d.dev_type]),
    h("dt", null, "厂商 / 型号"), h("dd", null, `${d.manufacturer || "—"} / ${d.model || "—"}`),
    h("dt", null, "通道"), h("dd", null, d.channels.map((c) => c.name || `通道 ${c.channel_no}`).join("，")),
    h("dt", null, "能力"), h("dd", null, [d.abilities.ptz_flag && "云台", d.abilities.motion_detection_flag && "移动侦测",
      d.abilities.infrared_detection_flag && "红外", d.abilities.dido_alarm_flag && "开关量", d.abilities.estore_flag && "天翼云"].filter(Boolean).join("、") || "—"),
    operator ? [h("dt", null, "用户"), h("dd", null, d.owner || "—")] : [h("dt", null, "权限"), h("dd", null, ACCESS[d.access])]);
  const sections = [banner, videoCard(devId, d), h("div", { class: "grid" }, h("div", { class: "card" }, h("h2", null, "实时状态"), live), h("div", { class: "card" }, h("h2", null, "设备信息"), facts))];
  if (mayControl) sections.push(ptzCard(devId, d), policyCard(devId, d), alarmSwitchCard(devId, d));
  sections.push(await scheduleCard(devId, d, mayControl));
  if (!operator && d.access === "own") sections.push(renameCard(devId, d), await shareCard(devId));
  if (operator) sections.push(await exceptionsCard(devId));
  if (admin) sections.push(h("div", { class: "card" }, h("button", { class: "danger", onclick: async () => {
    if (!confirm("删除设备 " + devId + "？")) return;
    try { await api("DELETE", "/devices/" + devId); toast("已删除"); location.hash = "#/devices"; } catch (e) { toast(e.message); }
  } }, "删除设备")));
  page(d.name || d.dev_id, ...sections);
}

// -- live video: HLS from /live/{DevID}/{ChannelNo}/{StreamType}/ (docs/media.md), played by the vendored hls.js

const LIVE_STATES = {
  idle: "未播放", starting: "正在连接摄像机…", live: "直播中", offline: "摄像机离线，视频已结束", closed: "该码流已关闭",
  not_found: "通道不存在", unavailable: "视频服务不可用", busy: "视频服务繁忙，请稍后再试", failed: "播放失败，请重试", ended: "视频已结束",
};
const LIVE_ENDED = ["offline", "closed", "not_found", "unavailable", "busy", "failed", "ended"];

function videoCard(devId, d) {
  const video = h("video", { id: "live-video", muted: true, autoplay: true, playsinline: true, controls: true });
  video.muted = true;
  const line = h("p", { id: "live-state", class: "muted", "data-state": "idle" }, LIVE_STATES.idle);
  const channel = h("select", { name: "live-channel" }, d.channels.map((c) => h("option", { value: c.channel_no }, c.name || `通道 ${c.channel_no}`)));
  const stream = h("select", { name: "live-stream" }, h("option", { value: "1" }, "主码流"), h("option", { value: "2" }, "子码流"));
  let hls = null;
  let poll = null;
  const base = () => `/live/${devId}/${channel.value}/${stream.value}/`;
  const show = (st, message) => {
    line.dataset.state = st;
    line.textContent = (LIVE_STATES[st] || st) + (message && st !== "live" && st !== "starting" ? `（${message}）` : "");
  };
  const stop = () => {
    clearInterval(poll); poll = null;
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute("src"); video.load();
  };
  async function status() {
    try {
      const r = await fetch(base() + "status", { credentials: "same-origin" });
      const x = await r.json();
      if (LIVE_ENDED.includes(x.state)) { stop(); show(x.state, x.message); }
      return x;
    } catch (e) { return null; }
  }
  function play() {
    stop();
    show("starting");
    const src = base() + "index.m3u8";
    if (window.Hls && window.Hls.isSupported()) {
      // 2 target durations behind the newest segment (1 and 1.5 stalled more in bench/media.py's runs); a viewer
      // that joins or falls further behind is brought back to it by playing up to 1.25x (hls.js's latency
      // controller): glass-to-glass on joining a running stream 2.95 -> 2.58 s (docs/benchmarks.md, issue 16)
      hls = new window.Hls({ enableWorker: false, liveSyncDurationCount: 2, maxLiveSyncPlaybackRate: 1.25, manifestLoadingMaxRetry: 2, levelLoadingMaxRetry: 2 });
      hls.on(window.Hls.Events.ERROR, async (_, data) => {
        if (!data.fatal) return;
        const x = await status();
        if (!x || !LIVE_ENDED.includes(x.state)) { stop(); show("failed", data.details); }
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
    } else { show("failed", "浏览器不支持 HLS"); return; }
    poll = setInterval(status, 3000);
  }
  video.addEventListener("playing", () => show("live"));
  channel.addEventListener("change", play);
  stream.addEventListener("change", play);
  state.player = stop;
  const card = h("div", { class: "card", id: "video-card" }, h("h2", null, "实时视频"),
    h("div", { class: "toolbar" }, channel, stream,
      h("button", { id: "live-play", onclick: play }, "播放"), h("button", { class: "plain", onclick: () => { stop(); show("idle"); } }, "停止")),
    h("div", { class: "video-wrap" }, video), line);
  if (d.online) setTimeout(play, 0);
  else show("offline");
  return card;
}

function command(devId, name, body) {
  return api("POST", `/devices/${devId}/commands/${name}`, body);
}

function ptzCard(devId, d) {
  const channel = h("select", { name: "channel" }, d.channels.map((c) => h("option", { value: c.channel_no }, c.name || `通道 ${c.channel_no}`)));
  const move = (dir) => async () => {
    try { await command(devId, "ptz", { ChannelNo: +channel.value, PtzDirection: dir }); toast("已发送"); } catch (e) { toast(e.message); }
  };
  return h("div", { class: "card" }, h("h2", null, "云台控制"), h("div", { class: "toolbar" }, channel),
    h("div", { class: "ptz" }, h("span", { class: "blank" }), h("button", { onclick: move(1), title: "上" }, "▲"), h("span", { class: "blank" }),
      h("button", { onclick: move(3), title: "左" }, "◀"), h("button", { class: "plain", onclick: move(0), title: "停" }, "■"), h("button", { onclick: move(4), title: "右" }, "▶"),
      h("span", { class: "blank" }), h("button", { onclick: move(2), title: "下" }, "▼"), h("span", { class: "blank" })));
}

const WEEK = ["", "周一", "周二", "周三", "周四", "周五", "周六", "周日"];

function policyCard(devId, d) {
  const list = h("tbody", { id: "policies" });
  const channel = h("select", { name: "ChannelNo" }, d.channels.map((c) => h("option", { value: c.channel_no }, c.name || `通道 ${c.channel_no}`)));
  async function load() {
    try {
      const held = await command(devId, "query_record_policy", { ChannelNo: +channel.value });
      list.replaceChildren(...(held.WeekPolicy.length ? held.WeekPolicy.map((p) => h("tr", null,
        h("td", null, WEEK[p.Week]), h("td", null, `${p.StartTime}–${p.EndTime}`), h("td", null, p.StoreType ? "天翼云" : "本地"),
        h("td", null, h("button", { class: "plain", onclick: async () => {
          try { await command(devId, "del_record_policy", { ChannelNo: +channel.value, PolicyID: p.PolicyID }); load(); } catch (e) { toast(e.message); }
        } }, "删除")))) : [h("tr", null, h("td", { colspan: "4", class: "muted" }, "没有录像策略"))]));
    } catch (e) { list.replaceChildren(h("tr", null, h("td", { colspan: "4", class: "muted" }, e.message))); }
  }
  channel.addEventListener("change", load);
  const days = h("span", null, WEEK.slice(1).map((w, i) => h("label", null, h("input", { type: "checkbox", name: "week", value: String(i + 1) }), w)));
  const f = form([days, h("input", { name: "StartTime", type: "time", required: true, value: "09:00" }),
    h("input", { name: "EndTime", type: "time", required: true, value: "18:00" }),
    h("select", { name: "StoreType" }, h("option", { value: "0" }, "本地存储"), h("option", { value: "1" }, "天翼云"))],
  async (v, el) => {
    const weeks = [...el.querySelectorAll("input[name=week]:checked")].map((x) => +x.value);
    if (!weeks.length) { toast("请选择星期"); return; }
    await command(devId, "add_record_policy", { ChannelNo: +channel.value, WeekPolicy: weeks.map((w) => ({
      StoreType: +v.StoreType, StreamType: 1, Week: w, StartTime: v.StartTime, EndTime: v.EndTime })) });
    toast("录像策略已下发"); load();
  }, "添加录像策略");
  f.id = "policy-form";
  load();
  return h("div", { class: "card" }, h("h2", null, "录像策略（每天最多 4 条，时间不能重叠）"), h("div", { class: "toolbar" }, channel),
    h("div", { class: "table-wrap" }, h("table", null, h("thead", null, h("tr", null, h("th", null, "星期"), h("th", null, "时间"), h("th", null, "存储"), h("th", null, ""))), list)), f);
}

function alarmSwitchCard(devId, d) {
  const types = Object.entries(ALARMS).filter(([t]) => ({ 1: d.abilities.motion_detection_flag, 2: d.abilities.infrared_detection_flag,
    3: d.abilities.manual_alarm_flag, 4: d.abilities.dido_alarm_flag })[t]);
  if (!types.length) return null;
  return h("div", { class: "card" }, h("h2", null, "报警开关"), form([
    h("select", { name: "ChannelNo" }, d.channels.map((c) => h("option", { value: c.channel_no }, c.name || `通道 ${c.channel_no}`))),
    h("select", { name: "AlarmType" }, types.map(([t, name]) => h("option", { value: t }, name))),
    h("select", { name: "AlarmFlag" }, h("option", { value: "1" }, "布防"), h("option", { value: "0" }, "撤防")),
  ], async (v) => {
    await command(devId, "set_alarm", { ChannelNo: +v.ChannelNo, AlarmType: +v.AlarmType, AlarmFlag: +v.AlarmFlag, ...(v.AlarmType === "4" ? { DIDONo: 0 } : {}) });
    toast("已设置");
  }, "设置"));
}

function renameCard(devId, d) {
  return h("div", { class: "card" }, h("h2", null, "名称"), form([h("input", { name: "name", value: d.name, maxlength: "64" })],
    async (v) => { await api("PATCH", "/devices/" + devId, { name: v.name }); toast("已保存"); }, "保存"));
}

async function shareCard(devId) {
  const shares = await api("GET", `/devices/${devId}/shares`);
  const rows = shares.items.map((s) => h("tr", null, h("td", null, s.mobile), h("td", null, s.control ? "可控制" : "只读"),
    h("td", null, h("button", { class: "plain", onclick: async () => {
      try { await api("DELETE", `/devices/${devId}/shares/${s.mobile}`); route(); } catch (e) { toast(e.message); }
    } }, "取消共享"))));
  const f = form([h("input", { name: "mobile", placeholder: "对方手机号", required: true }),
    h("label", null, h("input", { type: "checkbox", name: "control", value: "1" }), "允许控制")],
  async (v) => { await api("POST", `/devices/${devId}/shares`, { mobile: v.mobile, control: v.control === "1" }); toast("已共享给 " + v.mobile); route(); }, "共享");
  f.id = "share-form";
  return h("div", { class: "card" }, h("h2", null, "共享"), rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "shares" }, h("tbody", null, rows))) : h("p", { class: "muted" }, "尚未共享"), f);
}

async function exceptionsCard(devId) {
  const data = await api("GET", `/devices/${devId}/exceptions?per_page=10`);
  return h("div", { class: "card" }, h("h2", null, "异常上报"), data.items.length ? h("div", { class: "table-wrap" }, h("table", null, h("tbody", null,
    data.items.map((e) => h("tr", null, h("td", null, when(e.at)), h("td", null, `类型 ${e.exception_type}`), h("td", null, e.desc)))))) : h("p", { class: "muted" }, "没有异常"));
}

// -- operators: users, firmware and manufacturers, logs, statistics

async function usersPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = { q: params.get("q") || "", status: params.get("status") || "", page: params.get("page") || "1" };
  const go = (changes) => { location.hash = "#/users?" + new URLSearchParams({ ...query, ...changes }).toString(); };
  const data = await api("GET", "/users?" + new URLSearchParams({ ...query, per_page: "20" }).toString());
  const admin = state.me.operator_role === "admin";
  const rows = data.items.map((u) => h("tr", null, h("td", null, u.mobile), h("td", null, u.status === "active" ? "正常" : "已暂停"),
    h("td", null, `${u.devices} / ${u.max_devices}`), h("td", { class: "wide" }, when(u.created_at)),
    h("td", null, admin ? [
      h("button", { class: "plain", onclick: async () => {
        try { await api("PATCH", "/users/" + u.mobile, { status: u.status === "active" ? "suspended" : "active" }); route(); } catch (e) { toast(e.message); }
      } }, u.status === "active" ? "暂停" : "恢复"), " ",
      h("button", { class: "plain", onclick: async () => {
        try { const r = await api("POST", `/users/${u.mobile}/password`, {}); toast("新密码：" + r.password); } catch (e) { toast(e.message); }
      } }, "重置密码"), " ",
      h("button", { class: "plain", onclick: async () => {
        const n = prompt("可绑定设备数", String(u.max_devices));
        if (n === null) return;
        try { await api("PATCH", "/users/" + u.mobile, { max_devices: parseInt(n, 10) }); route(); } catch (e) { toast(e.message); }
      } }, "设备上限"), " ",
      h("button", { class: "danger", onclick: async () => {
        if (!confirm("删除用户 " + u.mobile + "？")) return;
        try { await api("DELETE", "/users/" + u.mobile); route(); } catch (e) { toast(e.message); }
      } }, "删除")] : "—")));
  page("用户管理", form([h("input", { name: "q", placeholder: "手机号", value: query.q }),
    h("select", { name: "status" }, h("option", { value: "" }, "全部"), h("option", { value: "active", selected: query.status === "active" }, "正常"),
      h("option", { value: "suspended", selected: query.status === "suspended" }, "已暂停"))], (v) => go({ q: v.q, status: v.status, page: "1" }), "查找"),
  h("div", { class: "table-wrap" }, h("table", { id: "users" }, h("thead", null, h("tr", null, h("th", null, "手机号"), h("th", null, "状态"),
    h("th", null, "设备"), h("th", { class: "wide" }, "开通时间"), h("th", null, "操作"))), h("tbody", null, rows))),
  pager(data, (p) => go({ page: String(p) })),
  admin ? h("div", { class: "card" }, h("h2", null, "开通用户"), form([h("input", { name: "mobile", placeholder: "手机号", required: true }),
    h("input", { name: "password", type: "password", placeholder: "初始密码", required: true }),
    h("input", { name: "max_devices", type: "number", min: "0", value: "4" })],
  async (v) => { await api("POST", "/users", { mobile: v.mobile, password: v.password, max_devices: +v.max_devices }); toast("已开通 " + v.mobile); route(); }, "开通")) : null);
}

async function userPage() { location.hash = "#/users"; }

// -- operators: manufacturers, the firmware catalogue and upgrade campaigns (§2.2 remote upgrade, §7.5.17)

const CAMPAIGN_STATES = { running: "运行中", paused: "已暂停", finished: "已完成", cancelled: "已取消" };
const TARGET_STATES = { pending: "等待下发", sent: "已下发", downloaded: "已下载", done: "完成", failed: "失败" };

const MAX_IMAGE = 64 * 1024 * 1024;  // kandian.portal.MAX_UPLOAD

function size(bytes) {
  return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : bytes >= 1024 ? (bytes / 1024).toFixed(1) + " KB" : bytes + " B";
}

function tally(c) {
  const n = c.devices;
  return `完成 ${n.done} · 失败 ${n.failed} · 进行中 ${n.sent + n.downloaded} · 等待 ${n.pending}`;
}

// A firmware image goes raw (application/octet-stream, its fields in the query): the browser streams the file from
// disk, and XMLHttpRequest (unlike fetch) reports the upload's progress.
function sendImage(file, fields, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API + "/firmware?" + new URLSearchParams({ ...fields, file_name: file.name }).toString());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-CSRF-Token", cookie("kandian_csrf"));
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) progress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let body;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: xhr.status === 413 ? "too_large" : "unavailable", message: "" }; }
      if (xhr.status === 401) expired();
      if (xhr.status >= 200 && xhr.status < 300) resolve(body); else reject(new ApiError(xhr.status, body));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { error: "unavailable", message: "上传中断" })));
    xhr.send(file);
  });
}

async function firmwarePage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const [makers, images, campaigns] = await Promise.all([api("GET", "/manufacturers"), api("GET", "/firmware"), api("GET", "/upgrades")]);
  const admin = state.me.operator_role === "admin";
  const makerCard = h("div", { class: "card" }, h("h2", null, "厂商"), h("div", { class: "table-wrap" }, h("table", null,
    h("thead", null, h("tr", null, h("th", null, "编号"), h("th", null, "名称"), h("th", null, "设备数"))),
    h("tbody", null, makers.items.map((m) => h("tr", null, h("td", null, m.manufacturer_no), h("td", null, m.name), h("td", null, m.devices)))))),
  admin ? form([h("input", { name: "manufacturer_no", placeholder: "编号（3 位）", required: true }), h("input", { name: "name", placeholder: "名称", required: true })],
    async (v) => { await api("POST", "/manufacturers", v); route(); }, "添加厂商") : null);

  const imageRows = images.items.slice().reverse().map((f) => h("tr", { "data-firmware": f.id },
    h("td", null, f.id), h("td", null, f.manufacturer_no), h("td", null, f.model), h("td", null, f.version),
    h("td", { class: "wide" }, f.file_name), h("td", { class: "wide" }, size(f.size)),
    h("td", { class: "wide", title: f.sha256 }, f.sha256.slice(0, 12) + "…"), h("td", { class: "wide" }, when(f.released_at))));
  let upload = null;
  if (admin) {
    const bar = h("progress", { id: "upload-progress", max: "1", value: "0", hidden: true });
    upload = h("form", { class: "inline", id: "firmware-form" },
      h("input", { name: "manufacturer", placeholder: "厂商编号（3 位）", required: true, pattern: "\\d{3}", list: "manufacturer-list", class: "narrow" }),
      h("datalist", { id: "manufacturer-list" }, makers.items.map((m) => h("option", { value: m.manufacturer_no }, m.name))),
      h("input", { name: "model", placeholder: "型号", required: true }),
      h("input", { name: "version", placeholder: "版本（如 V1.6_20270101）", required: true }),
      h("input", { name: "file", type: "file", required: true }), bar,
      h("button", { type: "submit" }, "上传固件"));
    upload.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = Object.fromEntries(new FormData(upload).entries());
      if (v.file.size > MAX_IMAGE) { toast(MESSAGES.too_large); return; }  // the server would refuse it unread
      const button = upload.querySelector("button");
      button.disabled = true;
      bar.hidden = false;
      try {
        const done = await sendImage(v.file, { manufacturer: v.manufacturer, model: v.model, version: v.version }, (x) => { bar.value = x; });
        toast(`已上传固件 ${done.version}（${size(done.size)}）`);
        route();
      } catch (err) { toast(err.message); button.disabled = false; bar.hidden = true; }
    });
  }
  const imageCard = h("div", { class: "card" }, h("h2", null, "固件"), images.items.length ? h("div", { class: "table-wrap" }, h("table", { id: "firmware" },
    h("thead", null, h("tr", null, h("th", null, "编号"), h("th", null, "厂商"), h("th", null, "型号"), h("th", null, "版本"), h("th", { class: "wide" }, "文件"),
      h("th", { class: "wide" }, "大小"), h("th", { class: "wide" }, "SHA-256"), h("th", { class: "wide" }, "上传时间"))),
    h("tbody", null, imageRows))) : h("p", { class: "muted" }, "还没有固件"), upload);

  let start = null;
  if (admin && images.items.length) {
    start = h("div", { class: "card" }, h("h2", null, "新建升级任务"), form([
      h("select", { name: "firmware", required: true }, images.items.slice().reverse().map((f) => h("option", { value: f.id }, `${f.model} ${f.version}`))),
      h("textarea", { name: "devices", rows: "2", cols: "40", placeholder: "设备编码，逗号或换行分隔（留空：该型号的全部设备）" }, params.get("devices") || ""),
      h("label", null, "每批", h("input", { name: "batch", type: "number", min: "1", value: "10", class: "narrow" })),
      h("label", null, "允许失败", h("input", { name: "max_failures", type: "number", min: "0", value: "3", class: "narrow" })),
    ], async (v) => {
      const firmware = images.items.find((f) => f.id === +v.firmware);
      const devices = v.devices.split(/[\s,，]+/).filter(Boolean);
      const body = { firmware: +v.firmware, batch: +v.batch, max_failures: +v.max_failures };
      if (devices.length) body.devices = devices; else body.model = firmware.model;
      const started = await api("POST", "/upgrades", body);
      sessionStorage.removeItem("kandian_chosen");
      toast(`升级任务 ${started.id}：${started.devices} 台设备` + (started.skipped.length ? `，${started.skipped.length} 台已在其他任务中` : ""));
      location.hash = "#/upgrade/" + started.id;
    }, "开始升级"));
    start.querySelector("form").id = "campaign-form";
  }
  const campaignRows = campaigns.items.map((c) => h("tr", { class: "link", "data-campaign": c.id, onclick: () => { location.hash = "#/upgrade/" + c.id; } },
    h("td", null, c.id), h("td", null, images.items.filter((f) => f.id === c.firmware_id).map((f) => `${f.model} ${f.version}`)[0] || c.firmware_id),
    h("td", null, CAMPAIGN_STATES[c.state] || c.state), h("td", null, tally(c)), h("td", { class: "wide" }, when(c.created_at))));
  const campaignCard = h("div", { class: "card" }, h("h2", null, "升级任务"), campaignRows.length ? h("div", { class: "table-wrap" }, h("table", { id: "campaigns" },
    h("thead", null, h("tr", null, h("th", null, "编号"), h("th", null, "固件"), h("th", null, "状态"), h("th", null, "设备"), h("th", { class: "wide" }, "创建时间"))),
    h("tbody", null, campaignRows))) : h("p", { class: "muted" }, "没有升级任务"));
  page("固件与升级", start, campaignCard, imageCard, makerCard);
}

async function upgradePage(id) {
  const admin = state.me.operator_role === "admin";
  const summary = h("dl", { class: "facts", id: "campaign" });
  const targets = h("tbody", { id: "targets" });
  const buttons = h("div", { class: "toolbar" });
  const steer = (action, text) => h("button", { class: action === "cancel" ? "danger" : "plain", id: "campaign-" + action, onclick: async () => {
    if (action === "cancel" && !confirm("取消升级任务 " + id + "？已下发的设备仍会完成或超时。")) return;
    try { show(await api("POST", `/upgrades/${id}/${action}`, {})); toast(text); } catch (e) { toast(e.message); }
  } }, text);
  function show(c) {
    summary.replaceChildren(
      h("dt", null, "固件"), h("dd", null, `${c.firmware.manufacturer_no} ${c.firmware.model} ${c.firmware.version}（${c.firmware.file_name}，${size(c.firmware.size)}）`),
      h("dt", null, "状态"), h("dd", { id: "campaign-state", "data-state": c.state }, CAMPAIGN_STATES[c.state] || c.state, c.reason ? `（${c.reason}）` : ""),
      h("dt", null, "设备"), h("dd", null, tally(c)),
      h("dt", null, "每批 / 允许失败"), h("dd", null, `${c.batch} / ${c.max_failures}`),
      h("dt", null, "创建 / 结束"), h("dd", null, `${when(c.created_at)} / ${when(c.finished_at)}`));
    targets.replaceChildren(...c.targets.map((t) => h("tr", { "data-devid": t.dev_id, "data-state": t.state },
      h("td", null, h("a", { href: "#/device/" + t.dev_id }, t.dev_id)), h("td", { class: "state " + t.state }, TARGET_STATES[t.state] || t.state),
      h("td", { class: "wide" }, t.from_version || "—"), h("td", { class: "wide" }, when(t.sent_at)), h("td", { class: "wide" }, when(t.downloaded_at)),
      h("td", null, when(t.finished_at)), h("td", null, t.reason || ""))));
    const open = c.state === "running" || c.state === "paused";
    buttons.replaceChildren(...(admin && open ? [c.state === "running" ? steer("pause", "暂停") : steer("resume", "继续"), steer("cancel", "取消任务")] : []));
    if (!open) clearInterval(state.timer);
  }
  show(await api("GET", "/upgrades/" + id));
  state.timer = setInterval(async () => {
    try { show(await api("GET", "/upgrades/" + id)); } catch (e) { clearInterval(state.timer); }
  }, 2000);
  page("升级任务 " + id, h("div", { class: "card" }, summary, buttons),
    h("div", { class: "table-wrap" }, h("table", null, h("thead", null, h("tr", null, h("th", null, "设备"), h("th", null, "状态"),
      h("th", { class: "wide" }, "原版本"), h("th", { class: "wide" }, "下发"), h("th", { class: "wide" }, "下载完成"), h("th", null, "结束"), h("th", null, "原因"))), targets)),
    h("p", null, h("a", { href: "#/firmware" }, "返回固件与升级")));
}

async function logsPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const p = params.get("page") || "1";
  const data = await api("GET", "/exceptions?per_page=20&page=" + p);
  page("设备异常日志", h("div", { class: "table-wrap" }, h("table", null,
    h("thead", null, h("tr", null, h("th", null, "时间"), h("th", null, "设备"), h("th", null, "类型"), h("th", null, "描述"))),
    h("tbody", null, data.items.map((e) => h("tr", { class: "link", onclick: () => { location.hash = "#/device/" + e.dev_id; } },
      h("td", null, when(e.at)), h("td", null, e.dev_id), h("td", null, e.exception_type), h("td", null, e.desc)))))),
  pager(data, (n) => { location.hash = "#/logs?page=" + n; }));
}

function lineChart(points, key, label) {
  const W = 600, H = 200, P = 30;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  const max = Math.max(1, ...points.map((p) => p[key]));
  const xy = points.map((p, i) => [P + (points.length > 1 ? i * (W - 2 * P) / (points.length - 1) : (W - 2 * P) / 2), H - P - p[key] * (H - 2 * P) / max]);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
  };
  add("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: "#b8c2cc" });
  add("text", { x: 4, y: P - 8 }, `${label}（最大 ${max}）`);
  if (xy.length) add("polyline", { points: xy.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#1565c0", "stroke-width": "2" });
  if (xy.length <= 60) xy.forEach(([x, y]) => add("circle", { cx: x, cy: y, r: 3, fill: "#1565c0" }));
  if (points.length) {
    add("text", { x: P, y: H - 8 }, when(points[0].at || points[0].day).slice(5, 16));
    add("text", { x: W - P - 70, y: H - 8 }, when(points[points.length - 1].at || points[points.length - 1].day).slice(5, 16));
  }
  return svg;
}

function barChart(days, key, label) {
  const W = 600, H = 200, P = 30;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  const max = Math.max(1, ...days.map((d) => d[key]));
  const bw = days.length ? Math.min(40, (W - 2 * P) / days.length) : 0;
  const add = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
  };
  add("text", { x: 4, y: P - 8 }, `${label}（最大 ${max}）`);
  days.forEach((d, i) => {
    const bh = d[key] * (H - 2 * P) / max;
    add("rect", { x: P + i * bw + 2, y: H - P - bh, width: Math.max(1, bw - 4), height: bh, fill: "#42a5f5" });
    if (days.length <= 14 || i % Math.ceil(days.length / 10) === 0) add("text", { x: P + i * bw, y: H - 10 }, d.day.slice(5));
  });
  return svg;
}

async function statsPage() {
  const s = await api("GET", "/stats/summary?days=30");
  page("统计报表",
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h2", null, "设备总数"), h("p", { id: "stat-devices" }, s.devices)),
      h("div", { class: "card" }, h("h2", null, "在线设备"), h("p", { id: "stat-online" }, s.online)),
      h("div", { class: "card" }, h("h2", null, "用户数"), h("p", null, s.users))),
    h("div", { class: "card" }, h("h2", null, "在线设备数（近 30 天）"), lineChart(s.samples, "online", "在线")),
    h("div", { class: "card" }, h("h2", null, "每日登录"), barChart(s.days, "logins", "登录")),
    h("div", { class: "card" }, h("h2", null, "每日报警"), barChart(s.days, "alarms", "报警")),
    h("div", { class: "card" }, h("h2", null, "每日播放"), barChart(s.days, "plays", "播放")));
}

// -- users: cameras, alarms, settings

async function camerasPage() {
  const data = await api("GET", "/devices?per_page=100");
  const cards = data.items.map((d) => h("a", { class: "card", href: "#/camera/" + d.dev_id, style: null, "data-devid": d.dev_id },
    h("h2", null, d.name || d.dev_id), h("p", null, onlineBadge(d.online), "　", ACCESS[d.access]), h("p", { class: "muted" }, d.dev_id)));
  const add = h("div", { class: "card" }, h("h2", null, "添加摄像机"), form([
    h("input", { name: "dev_id", placeholder: "设备编码", required: true }), h("input", { name: "dev_key", placeholder: "验证码", required: true })],
  async (v) => { await api("POST", "/devices", { dev_id: v.dev_id, dev_key: v.dev_key }); toast("已添加"); route(); }, "添加"));
  page("我的摄像机", data.items.length ? h("div", { class: "grid", id: "cameras" }, cards) : h("p", { class: "muted" }, "还没有摄像机"), add);
}

function picture(alarmId) {
  // the camera uploads the picture after the alarm (§7.5.27): until it has, the API answers 404 no_picture
  const missing = h("div", { class: "pic-missing" }, "图片尚未收到");
  const img = h("img", { src: `${API}/alarms/${alarmId}/picture`, alt: "报警图片", class: "alarm-picture" });
  img.addEventListener("error", () => img.replaceWith(missing));
  return img;
}

async function alarmsPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const p = params.get("page") || "1";
  const data = await api("GET", "/alarms?per_page=10&page=" + p);
  const items = data.items.map((a) => h("div", { class: "card alarm", "data-alarm": a.id },
    picture(a.id),
    h("div", null, h("h2", null, `${ALARMS[a.alarm_type] || "报警"} · ${a.name}`), h("p", null, when(a.at)),
      h("p", { class: "muted" }, `通道 ${a.channel_no}${a.desc ? " · " + a.desc : ""}`))));
  page("报警记录", items.length ? h("div", { id: "alarms" }, items) : h("p", { class: "muted" }, "没有报警"),
    pager(data, (n) => { location.hash = "#/alarms?page=" + n; }));
}

function settingsPage() {
  page("设置", h("div", { class: "card" }, h("h2", null, "修改密码"), form([
    h("input", { name: "old_password", type: "password", placeholder: "原密码", required: true, autocomplete: "current-password" }),
    h("input", { name: "new_password", type: "password", placeholder: "新密码（至少 6 位）", required: true, autocomplete: "new-password" })],
  async (v, f) => { await api("POST", "/me/password", v); f.reset(); toast("密码已修改"); }, "修改")));
}
