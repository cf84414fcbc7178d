#pragma once
#include <string>
#include <string_view>

#include "checkpoint/pickle_document.hpp"

namespace metaguard {

// An allow-list unpickler for torch.save's data.pkl. It interprets the binary opcodes that
// Python's pickler writes at protocols 2 to 5 and builds a PickleDocument; it never executes
// or imports anything. The only globals it accepts are those torch.save uses for tensors,
// parameters, storages, dtypes, torch.Size and collections.OrderedDict; the only calls
// (REDUCE) it evaluates are the tensor rebuild functions, OrderedDict and torch.Size.
// Anything else (e.g. os.system, which pickles as posix.system) is refused with an
// InputError naming the global. Text opcodes of protocol 0/1, object instantiation
// (NEWOBJ, INST, OBJ), extension codes and out-of-band buffers are refused too.
//
// Bounds: every length field is checked against the bytes left before anything is
// allocated; memory grows with the number of opcodes, so it is proportional to the pickle's
// real size. Errors read "'<path>': data.pkl, byte N: <what>".
PickleDocument read_pickle(std::string_view data, const std::string& path);

}  // namespace metaguard
