// Whether a process still runs, for pids read back from files (status files,
// temp-file names, a translator's owner record): its /proc entry in this PID
// namespace. A killed agent (kill -9, OOM) leaves such files looking current.

/** True when a process with this id runs here. */
export function processRuns(files: { fileExists(path: string): boolean }, pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && files.fileExists(`/proc/${pid}`);
}
