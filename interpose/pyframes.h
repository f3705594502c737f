/*
 * interpose/pyframes.h - CPython's frames in the heap profile (pyframes.c).
 *
 * The layout below is CPython 3.11's (x86-64 and aarch64, LP64), from its
 * headers: Include/cpython/pystate.h (PyThreadState), Include/internal/
 * pycore_frame.h (_PyCFrame, _PyInterpreterFrame), Include/cpython/code.h
 * (PyCodeObject), Include/cpython/unicodeobject.h (PyASCIIObject,
 * PyCompactUnicodeObject). tests/pyframes_layout.c compares every
 * value with the installed python3.11-dev headers when they are there.
 */
#ifndef HS_INTERPOSE_PYFRAMES_H
#define HS_INTERPOSE_PYFRAMES_H

#define HS_PY311_TS_CFRAME        56    /* PyThreadState.cframe: _PyCFrame * */
#define HS_PY311_TS_THREAD_ID     152   /* PyThreadState.thread_id: unsigned long (pthread_self) */
#define HS_PY311_CF_CURRENT       8     /* _PyCFrame.current_frame: _PyInterpreterFrame * */
#define HS_PY311_FR_CODE          32    /* _PyInterpreterFrame.f_code: PyCodeObject * */
#define HS_PY311_FR_PREVIOUS      48    /* .previous: _PyInterpreterFrame * */
#define HS_PY311_FR_PREV_INSTR    56    /* .prev_instr: _Py_CODEUNIT * (2 bytes a unit) */
#define HS_PY311_FR_IS_ENTRY      68    /* .is_entry: bool, the first frame of a run of the loop */
#define HS_PY311_FR_OWNER         69    /* .owner: char */
#define HS_PY311_OWNED_BY_GENERATOR 1
#define HS_PY311_OB_TYPE          8     /* PyObject.ob_type */
#define HS_PY311_OB_SIZE          16    /* PyVarObject.ob_size (a code object's: its instructions) */
#define HS_PY311_CO_FIRSTLINENO   72    /* PyCodeObject.co_firstlineno: int */
#define HS_PY311_CO_FILENAME      112   /* .co_filename: str */
#define HS_PY311_CO_QUALNAME      128   /* .co_qualname: str */
#define HS_PY311_CO_FIRSTTRACEABLE 168  /* ._co_firsttraceable: int, in code units */
#define HS_PY311_CO_CODE          184   /* .co_code_adaptive: the instructions */
#define HS_PY311_STR_LENGTH       16    /* PyASCIIObject.length: Py_ssize_t, in characters */
#define HS_PY311_STR_STATE        32    /* .state: interned:2 kind:3 compact:1 ascii:1 ready:1 */
#define HS_PY311_STR_ASCII_DATA   48    /* sizeof(PyASCIIObject): a compact ASCII string's characters */
#define HS_PY311_STR_COMPACT_DATA 72    /* sizeof(PyCompactUnicodeObject): other compact strings' */

/* python.c, once it knows the interpreter (lookup: dlsym in its scope):
 * registers the frame reader with the sampler when the version's layout is
 * the one above; otherwise nothing (the profile's stacks stay native). */
void hs_pyframes_start(void *(*lookup)(const char *name), unsigned major, unsigned minor);

#endif
