// tests/shim/prog_exceptions.cpp - C++ exceptions thrown through frames whose
// destructors allocate, for tests/43-profile.sh (compiled there with g++ when
// present; not part of make test-bins). Under HEAPSHIM_PROFILE_RATE=1 every
// allocation is sampled, so the shim's own stack walk (its private copy of
// libgcc's unwinder, interpose/interpose.mk) runs inside the program's
// exception unwinding (libgcc_s's): each must keep to its own state.
// Prints the number caught; exits 1 unless every throw was caught intact.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

struct guard {
    std::string s;
    guard() : s(100, 'x') {}
    ~guard() { std::vector<int> v(50, 1); if (v[49] != 1) std::abort(); }
};

static int dive(int d)
{
    guard g;
    if (d == 0) throw std::runtime_error(std::string(200, 'e'));
    return dive(d - 1) + (int)g.s.size();
}

int main()
{
    long caught = 0;
    for (int i = 0; i < 20000; i++) {
        try {
            dive(i % 20);
        } catch (const std::exception &e) {
            caught += std::string(e.what()) == std::string(200, 'e');
        }
    }
    std::printf("caught %ld\n", caught);
    return caught == 20000 ? 0 : 1;
}
