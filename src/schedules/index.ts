/**
 * The schedules wing: the Schedule object (a cron schedule that creates a job at each fire time), the ScheduleIndex
 * object (an owner's schedules, counted and listed), cron reading (croner), the decisions and the wire schemas. Its
 * face to functions/ and to the other wings.
 */
export { cronError, cronTimes, isTimeZone, shortestGapSeconds } from "./cron";
export { type CreateScheduleInput, type CreateScheduleOutcome, Schedule } from "./schedule";
export { ScheduleIndex } from "./schedule-index";
export {
  ScheduleBody,
  ScheduleDeletedSchema,
  type ScheduleInput,
  ScheduleListQuery,
  ScheduleListSchema,
  ScheduleParams,
  ScheduleQuery,
  ScheduleSchema,
  ScheduleSummarySchema,
} from "./schema";
export { fromWire, type ScheduleSummary, type ScheduleView } from "./view";
