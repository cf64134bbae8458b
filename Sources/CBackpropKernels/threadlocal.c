#include "CBackpropKernels.h"

// Per-thread switches of the autograd layer (see the accessors in CBackpropKernels.h).
_Thread_local int bp_tls_grad_disabled = 0;
_Thread_local int bp_tls_recording_values = 0;
_Thread_local int bp_tls_kernel_tape = 0;
_Thread_local int bp_tls_threads = 0;
_Thread_local void *bp_tls_scratch = 0;
_Thread_local int bp_tls_scratch_busy = 0;
