/* SIMULATION, for tests only: a stand-in for libnvidia-ml.so.1 with the NVML entry points the probe calls
 * (nvmlInit_v2, nvmlErrorString, nvmlShutdown). NVML_INIT_RC is the scenario's answer, chosen at build
 * time (-DNVML_INIT_RC=18); the strings are NVML's own for those codes. */
#ifndef NVML_INIT_RC
#define NVML_INIT_RC 0
#endif

int nvmlInit_v2(void) { return NVML_INIT_RC; }
int nvmlInit(void) { return NVML_INIT_RC; }
int nvmlShutdown(void) { return 0; }

const char *nvmlErrorString(int rc)
{
    switch (rc) {
    case 0: return "Success";
    case 4: return "Insufficient Permissions";
    case 9: return "Driver Not Loaded";
    case 18: return "Driver/library version mismatch";
    case 999: return "Unknown Error";
    default: return "Unknown Error";
    }
}
