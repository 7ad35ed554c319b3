/**
 * The dev server's SQLite: write-ahead log, synced at checkpoints (halves a step's server time: each workflow or
 * activity transition is one small commit, which the default rollback journal fsyncs several times).
 * synchronous=NORMAL under WAL: a commit is in the WAL, in the kernel's page cache, before the server acknowledges
 * it, so a crash of the server process (or of ours, or the worker) loses nothing acknowledged. A power loss or
 * kernel crash may lose the last commits since the last checkpoint (never corrupts): those runbooks resume from an
 * earlier point and run a step again, as after any worker crash (every host change is guarded, activities are
 * at-least-once); a person's answer accepted in that window would be asked again. synchronous=FULL would close that
 * window with an fsync per commit; a deployment that must survive power loss runs a real Temporal cluster anyway.
 */
const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

/** The dev server's flags for them: npm start's server, and the one a test kills and starts again on its file. */
export function devServerSqliteFlags(): string[] {
  return SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]);
}
