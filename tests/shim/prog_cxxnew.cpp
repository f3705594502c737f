// tests/shim/prog_cxxnew.cpp - C++ operator new/delete under the shim, for
// tests/34-cxx.sh (built there with g++).
//
//   prog_cxxnew count N   N news (scalar, array, nothrow) kept in a static
//                         array, then N deletes (plain, array, sized);
//                         prints "news N". Every allocation of the program's
//                         own code is one of these (no containers).
//   prog_cxxnew fail      operator new of 2^62 bytes: the runtime's
//                         new_handler runs once, then std::bad_alloc; the
//                         nothrow form returns nullptr. Prints what happened.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

static void *slots[100000];
static int kinds[100000];
static int handler_calls;

static void handler()
{
    handler_calls++;
    std::set_new_handler(nullptr);   // the next failure throws
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !std::strcmp(argv[1], "count")) {
        long n = std::atol(argv[2]);
        if (n < 1 || n > 100000) return 2;
        for (long i = 0; i < n; i++) {
            switch (i % 3) {
            case 0: { int *p = new int(int(i)); slots[i] = p; break; }
            case 1: { char *p = new char[24 + i % 200]; p[0] = char(i); slots[i] = p; break; }
            default: { double *p = new (std::nothrow) double[3]; if (!p) return 1; p[0] = double(i); slots[i] = p; break; }
            }
            kinds[i] = int(i % 3);
        }
        for (long i = 0; i < n; i++) {
            switch (kinds[i]) {
            case 0: ::operator delete(slots[i], sizeof(int)); break;   // sized
            case 1: delete[] static_cast<char *>(slots[i]); break;
            default: delete[] static_cast<double *>(slots[i]); break;
            }
        }
        std::printf("news %ld\n", n);
        return 0;
    }
    if (argc >= 2 && !std::strcmp(argv[1], "fail")) {
        std::set_new_handler(handler);
        const std::size_t huge = std::size_t(1) << 62;
        try {
            void *p = ::operator new(huge);
            std::printf("got %p\n", p);
        } catch (const std::bad_alloc &) {
            std::printf("bad_alloc after %d handler call(s)\n", handler_calls);
        }
        void *q = ::operator new[](huge, std::nothrow);
        std::printf("nothrow %s\n", q ? "block" : "nullptr");
        return 0;
    }
    std::fprintf(stderr, "usage: prog_cxxnew count N | fail\n");
    return 2;
}
