/**
 * The binding wing: edgeloop as a service binding. The `Edgeloop` WorkerEntrypoint (its HTTP API over `fetch`, and RPC
 * methods per family), who its caller acts as (the binding's props), and how its requests are let in. Its face to
 * functions/.
 */
export { bindingOrBearer } from "./auth";
export { edgeloopEntrypoint, type Serve } from "./entrypoint";
export { type BindingProps, BindingPropsSchema, principalOfProps } from "./props";
