/**
 * The flow wing: flow-control keys shared by jobs, fan-outs and crawls. The Flow object (parallelism and a rate
 * window per key, leased permits, a FIFO line), its decisions, the holder's gate, and the wire schemas. Its face to
 * functions/ and to the other wings (jobs take gates from it; fan-out and pages only see the engine's `CallGate`).
 */
export { Flow, type FlowStatusData } from "./flow";
export { deferSeconds } from "./flow-state";
export { FlowGate, FlowRefused } from "./gate";
export { checkFlow, closing, flowBreach, flowGate, flowName } from "./open";
export { FlowKeyParams, FlowSchema, type FlowSpec, FlowStatusSchema } from "./schema";
