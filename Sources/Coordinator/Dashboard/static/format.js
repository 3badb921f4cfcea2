// Numbers and times as an operator reads them at a glance.

export function rate(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + "k";
  return (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + "M";
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

// ms since the Unix epoch -> "14:03:21" today, "Dec 7 14:03" otherwise.
export function clock(ms) {
  if (!ms) return "–";
  const d = new Date(ms);
  const now = new Date();
  const hms = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  if (d.toDateString() === now.toDateString()) return hms;
  return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " +
    d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  const h = Math.floor(m / 60);
  return h + " h " + (m % 60) + " min";
}

export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const d = now - ms;
  if (d < 1500) return "just now";
  return duration(d) + " ago";
}

// Future times in a schedule: "in 4 min" / "now".
export function until(ms, now = Date.now()) {
  if (!ms) return "–";
  const d = ms - now;
  if (d <= 1000) return clock(ms);
  return clock(ms) + " (in " + duration(d) + ")";
}
