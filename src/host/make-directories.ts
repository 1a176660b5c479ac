// mkdir -p for both hosts, with one mkdir per path component, so it ends after
// at most that many calls and the first real failure ends it at once. Node's
// recursive mkdirSync spins for ever under a sysfs parent: sysfs answers ENOENT
// for /sys/fs/bpf/mnat while /sys/fs/bpf "exists" (the hang of an agent started
// with `ip netns exec`, whose fresh /sys has no bpffs).

/**
 * Creates path and its missing parents. mkdir creates one directory and
 * returns null (made, or already there) or why it failed.
 */
export function makeDirectories(path: string, mkdir: (dir: string) => string | null): void {
  let dir = path[0] === '/' ? '' : '.';
  for (const part of path.split('/')) {
    if (part === '') continue;
    dir += '/' + part;
    const error = mkdir(dir);
    if (error !== null) throw new Error(`cannot create directory ${dir}: ${error}`);
  }
}
