/*
 * tests/pyframes_layout.c - interpose/pyframes.h's CPython 3.11 layout
 * against the installed headers (python3.11-dev), built and run by
 * tests/55-pyframes.sh. Exit 0 when every value agrees; each one printed.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "pyframes.h"

static int bad;

static void same(const char *what, long ours, long theirs)
{
    printf("%-34s %4ld %s\n", what, ours, ours == theirs ? "ok" : "DIFFERS");
    if (ours != theirs) {
        printf("  headers say %ld\n", theirs);
        bad = 1;
    }
}

int main(void)
{
#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 11
    printf("headers are not 3.11's\n");
    return 1;
#endif
    static const struct { const char *what; long ours, theirs; } v[] = {
        { "PyThreadState.cframe", HS_PY311_TS_CFRAME, offsetof(PyThreadState, cframe) },
        { "PyThreadState.thread_id", HS_PY311_TS_THREAD_ID, offsetof(PyThreadState, thread_id) },
        { "_PyCFrame.current_frame", HS_PY311_CF_CURRENT, offsetof(_PyCFrame, current_frame) },
        { "_PyInterpreterFrame.f_code", HS_PY311_FR_CODE, offsetof(_PyInterpreterFrame, f_code) },
        { "_PyInterpreterFrame.previous", HS_PY311_FR_PREVIOUS, offsetof(_PyInterpreterFrame, previous) },
        { "_PyInterpreterFrame.prev_instr", HS_PY311_FR_PREV_INSTR, offsetof(_PyInterpreterFrame, prev_instr) },
        { "_PyInterpreterFrame.is_entry", HS_PY311_FR_IS_ENTRY, offsetof(_PyInterpreterFrame, is_entry) },
        { "_PyInterpreterFrame.owner", HS_PY311_FR_OWNER, offsetof(_PyInterpreterFrame, owner) },
        { "FRAME_OWNED_BY_GENERATOR", HS_PY311_OWNED_BY_GENERATOR, FRAME_OWNED_BY_GENERATOR },
        { "PyObject.ob_type", HS_PY311_OB_TYPE, offsetof(PyObject, ob_type) },
        { "PyVarObject.ob_size", HS_PY311_OB_SIZE, offsetof(PyVarObject, ob_size) },
        { "PyCodeObject.co_firstlineno", HS_PY311_CO_FIRSTLINENO, offsetof(PyCodeObject, co_firstlineno) },
        { "PyCodeObject.co_filename", HS_PY311_CO_FILENAME, offsetof(PyCodeObject, co_filename) },
        { "PyCodeObject.co_qualname", HS_PY311_CO_QUALNAME, offsetof(PyCodeObject, co_qualname) },
        { "PyCodeObject._co_firsttraceable", HS_PY311_CO_FIRSTTRACEABLE, offsetof(PyCodeObject, _co_firsttraceable) },
        { "PyCodeObject.co_code_adaptive", HS_PY311_CO_CODE, offsetof(PyCodeObject, co_code_adaptive) },
        { "sizeof(_Py_CODEUNIT)", 2, sizeof(_Py_CODEUNIT) },
        { "PyASCIIObject.length", HS_PY311_STR_LENGTH, offsetof(PyASCIIObject, length) },
        { "PyASCIIObject.state", HS_PY311_STR_STATE, offsetof(PyASCIIObject, state) },
        { "sizeof(PyASCIIObject)", HS_PY311_STR_ASCII_DATA, sizeof(PyASCIIObject) },
        { "sizeof(PyCompactUnicodeObject)", HS_PY311_STR_COMPACT_DATA, sizeof(PyCompactUnicodeObject) },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) same(v[i].what, v[i].ours, v[i].theirs);
    /* the state bits as pyframes.c reads them: kind at bit 2, compact 5,
     * ascii 6, ready 7 */
    PyASCIIObject a;
    memset(&a, 0, sizeof a);
    a.state.kind = 4;
    a.state.compact = 1;
    a.state.ascii = 1;
    a.state.ready = 1;
    unsigned s;
    memcpy(&s, (char *)&a + HS_PY311_STR_STATE, sizeof s);
    same("state kind (bits 2-4)", (s >> 2) & 7, 4);
    same("state compact (bit 5)", (s >> 5) & 1, 1);
    same("state ascii (bit 6)", (s >> 6) & 1, 1);
    same("state ready (bit 7)", (s >> 7) & 1, 1);
    return bad;
}
