/**
 * Every way a runbook step can fail, in one catalogue: the activities throw these, the workflows' retry policies
 * derive their non-retryable list from it, and a person reading a failed run finds the type explained here.
 * Pure code, imported by workflows and activities alike.
 *
 *   never  — retrying cannot help: refused input, a host we must not talk to, a state only a person can judge
 *   retry  — a passing fault (a dropped connection, a command that failed once): the retry policy tries again
 *   poll   — an expected miss while polling ("not back yet"): retried like `retry`, logged as benign, not as a warning
 *
 * A failure's message is shown in plain words to whoever reads the run (the Web UI with or without our codec): we
 * build it from validated inputs and parsed facts. `quotesOutput` marks the types whose message may quote a host's
 * or a server's output, which may hold a secret: their message stays encrypted (common/failure-converter.ts).
 */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';

type Retry = 'never' | 'retry' | 'poll';

export const FAILURES = {
  // Refusals before anything changes.
  InvalidInput: { retry: 'never', meaning: 'the input (or the inventory entry it names) is refused; nothing was changed' },
  NotEncrypted: { retry: 'never', meaning: 'an input or Update argument that did not go through the runbook codec: refused, nothing was run' },
  UnknownHost: { retry: 'never', meaning: 'the host or cluster is not in the inventory' },
  Refused: { retry: 'never', meaning: 'the preflight refused the runbook, with the numbers; nothing was changed' },
  NotApproved: { retry: 'never', meaning: 'nobody approved the plan in time; nothing was changed' },
  // The SSH layer.
  HostKeyMismatch: { retry: 'never', meaning: 'the host answered with a key other than the one pinned for that boot stage: stop' },
  CommandFailed: { retry: 'retry', meaning: 'a remote command failed; retried, then a person is asked', quotesOutput: true },
  // Polling misses: the thing waited for is not true yet.
  NotBack: { retry: 'poll', meaning: 'the host does not answer in the expected stage, or not with a new boot id, yet' },
  StillUp: { retry: 'poll', meaning: 'the host still answers in the boot it had before the power command' },
  NotQuorate: { retry: 'poll', meaning: 'the cluster is not quorate yet' },
  StorageInactive: { retry: 'poll', meaning: 'a storage of the node is not active yet' },
  GuestsNotRunningYet: { retry: 'poll', meaning: 'guests that ran before do not run again yet' },
  OsdNotSafeYet: { retry: 'poll', meaning: 'a Ceph OSD marked out still has placement groups mapped to it: its data is still moving' },
  // States of a host that a person must judge.
  Diagnosis: { retry: 'never', meaning: 'the failed disk cannot be told from the arrays and disks as they are' },
  DiskNotFound: { retry: 'never', meaning: 'a disk the runbook works on is no longer visible by its serial' },
  SurvivorMissing: { retry: 'never', meaning: 'the disk that holds the only copy is missing' },
  FailedDiskStillThere: { retry: 'never', meaning: 'the failed disk is still in the host: it was not swapped yet' },
  NewDiskUnclear: { retry: 'never', meaning: 'no new disk, several candidates, or one without a serial' },
  NewDiskTooSmall: { retry: 'never', meaning: 'the new disk is smaller than the survivor' },
  NewDiskNotBlank: { retry: 'never', meaning: 'the new disk has a partition table of its own: never overwritten' },
  UnsafeRemove: { retry: 'never', meaning: 'the member to remove is not faulty' },
  PlanChanged: { retry: 'never', meaning: 'the host is not as the approved plan expects (a disk renamed, a guest moved): what runs must be what was approved' },
  GuestElsewhere: { retry: 'never', meaning: 'a guest is not on the node the plan expects: someone moved it' },
  GuestsNotBack: { retry: 'never', meaning: 'the host is back but some of its guests do not run' },
  HostNotBack: { retry: 'never', meaning: 'the host did not come back and a person stopped the wait' },
  ArraysDegraded: { retry: 'never', meaning: 'arrays are still degraded at the end of the disk replacement' },
  NotSwapped: { retry: 'never', meaning: 'nobody confirmed the disk swap in time' },
  // People's answers.
  AnswerRefused: { retry: 'never', meaning: 'an answer did not do what was asked (a wrong passphrase, an early answer): the Update fails with why, the run waits for the next answer' },
  ConfigRefused: { retry: 'never', meaning: 'sshd -t refused the new sshd configuration: the previous file was put back, ssh not reloaded' },
  OutcomeUnknown: { retry: 'never', meaning: 'a retried host change cannot tell whether its first attempt ran (the host keeps no trace of it): a person looks and decides' },
  // Detached jobs (long commands run by systemd on the host).
  JobFailed: { retry: 'never', meaning: 'a detached job ended with a non-zero exit status: a person looks at it (retrying would run it again)' },
  JobLost: { retry: 'never', meaning: 'a detached job vanished before its end was collected (a reboot?): whether it finished is unknown' },
  // Passphrases and secrets.
  NoSealingKey: { retry: 'never', meaning: 'the worker has no sealing key: it cannot open passphrases' },
  SealedSecretRefused: { retry: 'never', meaning: 'a sealed value the worker cannot open (another key, tampered)' },
  PassphraseRefused: { retry: 'never', meaning: 'a passphrase with characters no initramfs prompt can take' },
  PassphraseTriesSpent: { retry: 'never', meaning: 'every passphrase try was wrong (and, on a reboot, a person gave up)' },
  NewKeyFailed: { retry: 'never', meaning: 'the new LUKS passphrase does not open the volume: the old key is kept' },
  // Mail.
  MailPassFileUnreadable: { retry: 'retry', meaning: 'the SMTP password file cannot be read (yet)' },
  MailAuthFailed: { retry: 'retry', meaning: 'the SMTP server refused our login (the password file is read again at the next try)', quotesOutput: true },
  MailTransportFailed: { retry: 'retry', meaning: 'the SMTP server could not be reached or refused the message', quotesOutput: true },
  // DNS.
  DnsConflict: { retry: 'never', meaning: 'the DNS name already points elsewhere: never overwritten, a person decides' },
  // Ends chosen by people or by the roll.
  // Its message repeats the failed step's, which may quote a command's output.
  Aborted: { retry: 'never', meaning: 'a person chose to stop the runbook; the result says what was done', quotesOutput: true },
  RollStopped: { retry: 'never', meaning: 'a node of a rolling reboot failed: the roll stops there' },
} as const satisfies Record<string, { retry: Retry; meaning: string; quotesOutput?: true }>;

export type FailureType = keyof typeof FAILURES;

/** The types no retry policy retries: what the workflows pass as `nonRetryableErrorTypes`. */
export const NON_RETRYABLE: FailureType[] = (Object.keys(FAILURES) as FailureType[]).filter((t) => FAILURES[t].retry === 'never');

/** The failure of that type, retryable or not as the catalogue says; a polling miss is benign (no warning logged). */
export function failure(type: FailureType, message: string, ...details: unknown[]): ApplicationFailure {
  const { retry } = FAILURES[type];
  return ApplicationFailure.create({
    message,
    type,
    nonRetryable: retry === 'never',
    details: details.length ? details : undefined,
    category: retry === 'poll' ? ApplicationFailureCategory.BENIGN : undefined,
  });
}

/** Whether a failure of this type shows its message in plain words: one of ours that quotes no output. */
export function plainMessage(type: string | null | undefined): boolean {
  return typeof type === 'string' && Object.hasOwn(FAILURES, type) && !('quotesOutput' in FAILURES[type as FailureType]);
}

/** The failure's type when it is one of ours. */
export function failureType(error: unknown): FailureType | undefined {
  let e: unknown = error;
  // An ActivityFailure or ChildWorkflowFailure carries the ApplicationFailure as its cause.
  for (let depth = 0; e instanceof Error && depth < 4; depth++, e = e.cause) {
    if (e instanceof ApplicationFailure && e.type && e.type in FAILURES) return e.type as FailureType;
  }
  return undefined;
}
