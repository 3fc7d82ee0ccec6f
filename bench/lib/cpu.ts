/**
 * CPU time of the processes a benchmark starts (Linux `/proc`): a worker's wall time on 2 shared cores is noisy,
 * the CPU its workerd process spends on a run much less so.
 */
import { readdirSync, readFileSync } from "node:fs";

/** This process's children running `name` (e.g. the workerd a Miniflare instance spawned). */
export function childPids(name: string): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return pids; // not Linux
  }
  for (const e of entries) {
    const stat = statOf(Number(e));
    if (stat && stat.comm === name && stat.ppid === process.pid) pids.push(Number(e));
  }
  return pids;
}

/** CPU ms all threads of a process have used so far, to the nanosecond (NaN when it cannot be read). */
export function cpuMs(pid: number): number {
  try {
    let ns = 0;
    // schedstat's first field: time spent on the CPU, in ns (stat's utime/stime tick at only 10 ms).
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    }
    return ns / 1e6;
  } catch {
    return Number.NaN;
  }
}

function statOf(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold spaces; the fields after it are numbers.
    const close = text.lastIndexOf(")");
    return { comm: text.slice(text.indexOf("(") + 1, close), ppid: Number(text.slice(close + 2).split(" ")[1]) };
  } catch {
    return undefined;
  }
}
