// Bundled into the fault worker's workflows (test/setup/fault-worker.mjs): tells the worker process, through a
// sink that is not called on replay, that a workflow task is scheduling an activity.
import { proxySinks } from '@temporalio/workflow';

const { faults } = proxySinks();

export const interceptors = () => ({
  outbound: [{
    scheduleActivity(input, next) {
      faults.scheduled(String(input.seq), input.activityType);
      return next(input);
    },
  }],
});
