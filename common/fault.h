/* Fault injection for the crash-safety tests: SG_FAULT("name") kills the process with SIGKILL,
 * as kill -9 would, when the environment variable SIGNER_FAULT names that point. Compiled in
 * only with -DSIGNER_FAULTS (test builds: -DSIGNER_TESTS=ON); elsewhere it is nothing. */
#ifndef SIGNER_COMMON_FAULT_H
#define SIGNER_COMMON_FAULT_H

#ifdef SIGNER_FAULTS
void sg_fault_point(const char *name);
#define SG_FAULT(name) sg_fault_point(name)
#else
#define SG_FAULT(name) ((void)0)
#endif

#endif
