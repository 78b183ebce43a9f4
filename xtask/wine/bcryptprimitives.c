/* A stand-in for Windows' bcryptprimitives.dll, for running Rust programs under wine 8.0 in
 * tests only; it is never shipped in a bundle.
 *
 * Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll, which wine 8.0 does
 * not have, so every Rust .exe would exit with status 53 before main. This DLL exports that one
 * function and forwards it to wine's bcrypt.dll (BCryptGenRandom with the system-preferred RNG).
 * Built by the test harness (xtask/src/wine.rs) with mingw-w64 into the test prefix's system32:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
