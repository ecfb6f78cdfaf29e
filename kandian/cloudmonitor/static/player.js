// spec/002's player pages (kandian.cloudmonitor.player): live HLS with a heartbeat every 12 s, or a recording (VOD)
"use strict";
(function () {
  const video = document.getElementById("video");
  const line = document.getElementById("state");
  const STATES = {
    idle: "正在连接摄像机…", starting: "正在连接摄像机…", live: "直播中", offline: "摄像机离线，视频已结束",
    closed: "该通道已停止", not_found: "通道不存在", unavailable: "视频服务不可用", busy: "视频服务繁忙，请稍后再试",
    failed: "播放失败，正在重试…", ended: "视频已结束", expired: "播放链接已过期",
  };
  const ENDED = ["offline", "closed", "not_found", "unavailable", "ended", "expired"];
  let live = video.dataset.live;
  let status = video.dataset.status;
  let hls = null;
  video.muted = true;

  function show(state) {
    line.dataset.state = state;
    line.textContent = STATES[state] || state;
  }
  function stop() {
    if (hls) { hls.destroy(); hls = null; }
  }
  function play() {
    stop();
    if (window.Hls && window.Hls.isSupported()) {
      // as the portal's camera page: a viewer that joins or falls behind plays at up to 1.25x until it is back at
      // 2 target durations behind the newest segment (docs/benchmarks.md, issue 16)
      hls = new window.Hls({ enableWorker: false, liveSyncDurationCount: 2, maxLiveSyncPlaybackRate: 1.25,
                             manifestLoadingMaxRetry: 4, levelLoadingMaxRetry: 4 });
      hls.on(window.Hls.Events.ERROR, async (_, data) => {
        if (!data.fatal) return;
        stop();
        const state = await check();
        if (!ENDED.includes(state)) { show("failed"); setTimeout(play, 3000); }
      });
      hls.loadSource(live);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = live;
    } else {
      show("failed");
    }
  }
  async function check() {
    try {
      const answer = await (await fetch(status, { cache: "no-store" })).json();
      const state = answer.state === "stopped" || answer.state === "idle" && hls === null ? "ended" : answer.state;
      if (ENDED.includes(state)) { stop(); show(state); }
      return state;
    } catch (e) { return null; }
  }
  // the heartbeat: a fresh live URL from the page's own server, then the playlist, which keeps the
  // on-demand stream running while this page is open (paused or not)
  async function heartbeat() {
    try {
      const r = await fetch(video.dataset.heartbeat, { cache: "no-store" });
      if (r.status === 403) { stop(); show("expired"); return; }
      if (!r.ok) return;
      const urls = await r.json();
      live = urls.live; status = urls.status;
      const state = await check();
      if (ENDED.includes(state) && state !== "expired") {
        // the camera may be back: try again
        const again = await fetch(live, { cache: "no-store" });
        if (again.ok) play();
        return;
      }
      await fetch(live, { cache: "no-store" });
    } catch (e) { /* the next beat tries again */ }
  }
  if (video.dataset.vod) {
    // a recording: the playlist lists every piece, the player seeks in it; no heartbeat needed
    live = video.dataset.vod;
    video.addEventListener("playing", () => show("live"));
    video.addEventListener("ended", () => show("ended"));
    show("starting");
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ enableWorker: false });
      hls.on(window.Hls.Events.ERROR, (_, data) => { if (data.fatal) { stop(); show("failed"); } });
      hls.loadSource(live);
      hls.attachMedia(video);
    } else { video.src = live; }
    return;
  }
  video.addEventListener("playing", () => show("live"));
  setInterval(heartbeat, Number(video.dataset.interval) || 12000);
  show("starting");
  play();
})();
