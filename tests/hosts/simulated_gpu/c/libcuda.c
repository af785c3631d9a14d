/* SIMULATION, for tests only: a stand-in for libcuda.so.1 with the driver-API calls the probe makes
 * (cuDriverGetVersion, cuInit, cuDeviceGetCount, cuGetErrorName, cuGetErrorString). The scenario's
 * answers are chosen at build time: -DCU_DRIVER_VERSION=13010 -DCU_INIT_RC=999 -DCU_DEVICE_COUNT=1.
 * The names and strings are the CUDA driver's own for those codes. */
#ifndef CU_DRIVER_VERSION
#define CU_DRIVER_VERSION 13010
#endif
#ifndef CU_INIT_RC
#define CU_INIT_RC 0
#endif
#ifndef CU_DEVICE_COUNT
#define CU_DEVICE_COUNT 1
#endif

static int initialised;

int cuDriverGetVersion(int *v) { if (!v) return 1; *v = CU_DRIVER_VERSION; return 0; }
int cuInit(unsigned int flags) { (void)flags; initialised = CU_INIT_RC == 0; return CU_INIT_RC; }

int cuDeviceGetCount(int *n)
{
    if (!n) return 1;
    if (!initialised) return 3; /* CUDA_ERROR_NOT_INITIALIZED */
    *n = CU_DEVICE_COUNT;
    return 0;
}

static const char *name_of(int rc)
{
    switch (rc) {
    case 0: return "CUDA_SUCCESS";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 46: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case 100: return "CUDA_ERROR_NO_DEVICE";
    case 802: return "CUDA_ERROR_SYSTEM_NOT_READY";
    case 803: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
    case 804: return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
    case 999: return "CUDA_ERROR_UNKNOWN";
    default: return 0;
    }
}

static const char *string_of(int rc)
{
    switch (rc) {
    case 0: return "no error";
    case 3: return "initialization error";
    case 46: return "CUDA-capable device(s) is/are busy or unavailable";
    case 100: return "no CUDA-capable device is detected";
    case 802: return "system not yet initialized";
    case 803: return "system has unsupported display driver / cuda driver combination";
    case 804: return "forward compatibility was attempted on non supported HW";
    case 999: return "unknown error";
    default: return 0;
    }
}

int cuGetErrorName(int rc, const char **s) { *s = name_of(rc); return *s ? 0 : 1; }
int cuGetErrorString(int rc, const char **s) { *s = string_of(rc); return *s ? 0 : 1; }
