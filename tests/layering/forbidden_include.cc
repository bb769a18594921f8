// Compiled as the http component (tests/CMakeLists.txt, LayeringTest): http may not call the
// bridge, so this include must fail to compile. The control build defines PS_ALLOWED and
// includes only what http may call, which must compile.
#include "common/status.h"
#include "http/fetch_request.h"
#ifndef PS_ALLOWED
#include "bridge/bridge.h"
#endif

int main() { return 0; }
