#include "checkpoint/pickle_reader.hpp"

#include <cstring>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "checkpoint/dtype_table.hpp"
#include "checkpoint/file_error.hpp"

namespace metaguard {
namespace {

// Opcodes (CPython's Lib/pickle.py names).
enum Opcode : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2', kBinInt = 'J',
  kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N', kBinPersId = 'Q', kReduce = 'R',
  kBinString = 'T', kShortBinString = 'U', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b',
  kGlobal = 'c', kDict = 'd', kEmptyDict = '}', kAppends = 'e', kBinGet = 'h',
  kLongBinGet = 'j', kList = 'l', kEmptyList = ']', kBinPut = 'q', kLongBinPut = 'r',
  kSetItem = 's', kTuple = 't', kEmptyTuple = ')', kSetItems = 'u', kBinFloat = 'G',
  kBinBytes = 'B', kShortBinBytes = 'C',
  kProto = 0x80, kNewObj = 0x81, kExt1 = 0x82, kExt2 = 0x83, kExt4 = 0x84, kTuple1 = 0x85,
  kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89, kLong1 = 0x8a,
  kLong4 = 0x8b, kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kBinBytes8 = 0x8e,
  kEmptySet = 0x8f, kAddItems = 0x90, kFrozenSet = 0x91, kNewObjEx = 0x92,
  kStackGlobal = 0x93, kMemoize = 0x94, kFrame = 0x95, kByteArray8 = 0x96,
  kNextBuffer = 0x97, kReadonlyBuffer = 0x98,
};

constexpr const char* kRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
constexpr const char* kRebuildMeta = "torch._utils._rebuild_meta_tensor_no_storage";
constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kTorchSize = "torch.Size";

// An allowed global: its canonical "module.name", or empty when refused.
std::string allowed_global(const std::string& module, const std::string& name) {
  std::string full = module + "." + name;
  if (full == kOrderedDict || full == kTorchSize || full == kRebuildTensorV2 ||
      full == kRebuildTensor || full == kRebuildParameter || full == kRebuildParameterWithState ||
      full == kRebuildMeta) {
    return full;
  }
  if ((module == "torch" || module == "torch.cuda") && dtype_by_storage_type(name)) {
    return "torch." + name;  // torch.cuda.FloatStorage (older GPU saves) means the same dtype
  }
  if (module == "torch" && dtype_by_torch_attribute(name)) return full;
  return "";
}

const char* opcode_name(uint8_t op) {
  switch (op) {
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 'P': return "PERSID";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case kNewObj: return "NEWOBJ";
    case kNewObjEx: return "NEWOBJ_EX";
    case kExt1: return "EXT1";
    case kExt2: return "EXT2";
    case kExt4: return "EXT4";
    case kNextBuffer: return "NEXT_BUFFER";
    case kReadonlyBuffer: return "READONLY_BUFFER";
    default: return "?";
  }
}

class Unpickler {
 public:
  Unpickler(std::string_view data, const std::string& path) : data_(data), path_(path) {
    none_ = add({PickleKind::None, false, 0, 0, 0});
    false_ = add({PickleKind::Bool, false, 0, 0, 0});
    true_ = add({PickleKind::Bool, false, 0, 1, 0});
  }

  PickleDocument run() {
    while (pos_ < data_.size()) {
      op_pos_ = pos_;
      uint8_t op = read_u8();
      if (op == kStop) {
        doc_.root = pop();
        return std::move(doc_);
      }
      step(op);
    }
    op_pos_ = pos_;
    fail("ends without the STOP opcode (truncated or damaged)");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    fail_file(path_, fmt::format("data.pkl, byte {}: {}", op_pos_, what));
  }

  // ---- input ---------------------------------------------------------------------------
  size_t remaining() const { return data_.size() - pos_; }
  std::string_view read_bytes(uint64_t count) {
    if (count > remaining()) {
      fail(fmt::format("claims {} bytes where {} remain (truncated or damaged)", count, remaining()));
    }
    std::string_view out = data_.substr(pos_, static_cast<size_t>(count));
    pos_ += static_cast<size_t>(count);
    return out;
  }
  uint64_t read_le(size_t width) {
    std::string_view bytes = read_bytes(width);
    uint64_t value = 0;
    for (size_t i = width; i-- > 0;) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
    return value;
  }
  uint8_t read_u8() { return static_cast<uint8_t>(read_le(1)); }
  std::string_view read_line() {
    size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) fail("a text argument has no terminating newline");
    std::string_view line = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  // ---- values --------------------------------------------------------------------------
  ValueId add(PickleValue value) {
    doc_.values.push_back(value);
    return static_cast<ValueId>(doc_.values.size() - 1);
  }
  ValueId add_text(PickleKind kind, std::string_view text) {
    doc_.strings.emplace_back(text);
    return add({kind, false, static_cast<uint32_t>(doc_.strings.size() - 1), 0, 0});
  }
  ValueId add_string(std::string_view text) {
    if (!valid_utf8(text)) fail("a string is not valid UTF-8");
    return add_text(PickleKind::String, text);
  }
  ValueId add_container(PickleKind kind, std::vector<ValueId> items, bool ordered = false) {
    doc_.containers.push_back(std::move(items));
    return add({kind, ordered, static_cast<uint32_t>(doc_.containers.size() - 1), 0, 0});
  }
  ValueId add_int(int64_t value) { return add({PickleKind::Int, false, 0, value, 0}); }
  const PickleValue& value(ValueId id) const { return doc_.values[id]; }
  std::vector<ValueId>& items_of(ValueId id) { return doc_.containers[value(id).index]; }
  const std::string& text_of(ValueId id) const { return doc_.strings[value(id).index]; }

  // ---- stack ---------------------------------------------------------------------------
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(ValueId id) { stack_.push_back(id); }
  ValueId pop() {
    if (stack_.size() <= base()) fail("pops an empty stack (malformed pickle)");
    ValueId id = stack_.back();
    stack_.pop_back();
    return id;
  }
  ValueId top() const {
    if (stack_.size() <= base()) fail("reads an empty stack (malformed pickle)");
    return stack_.back();
  }
  std::vector<ValueId> pop_mark() {
    if (marks_.empty()) fail("pops to a MARK that was never set (malformed pickle)");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValueId> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }

  // ---- the interpreter -----------------------------------------------------------------
  void step(uint8_t op) {
    switch (op) {
      case kProto: {
        doc_.protocol = read_u8();
        if (doc_.protocol > 5) fail(fmt::format("pickle protocol {} is newer than 5", doc_.protocol));
        return;
      }
      case kFrame: {
        uint64_t length = read_le(8);
        if (length > remaining()) fail("a FRAME claims more bytes than remain (truncated)");
        return;
      }
      case kMark: marks_.push_back(stack_.size()); return;
      case kPop:
        if (stack_.size() > base()) {
          stack_.pop_back();
        } else {
          pop_mark();
        }
        return;
      case kPopMark: pop_mark(); return;
      case kDup: push(top()); return;
      case kNone: push(none_); return;
      case kNewTrue: push(true_); return;
      case kNewFalse: push(false_); return;
      case kBinInt: push(add_int(static_cast<int32_t>(static_cast<uint32_t>(read_le(4))))); return;
      case kBinInt1: push(add_int(static_cast<int64_t>(read_le(1)))); return;
      case kBinInt2: push(add_int(static_cast<int64_t>(read_le(2)))); return;
      case kLong1: push(read_long(read_le(1))); return;
      case kLong4: {
        auto length = static_cast<int32_t>(static_cast<uint32_t>(read_le(4)));
        if (length < 0) fail("LONG4 with a negative length");
        push(read_long(static_cast<uint64_t>(length)));
        return;
      }
      case kBinFloat: {
        std::string_view bytes = read_bytes(8);
        uint64_t bits = 0;
        for (char c : bytes) bits = (bits << 8) | static_cast<unsigned char>(c);  // big-endian
        double real = 0;
        std::memcpy(&real, &bits, sizeof real);
        push(add({PickleKind::Float, false, 0, 0, real}));
        return;
      }
      case kBinUnicode: push(add_string(read_bytes(read_le(4)))); return;
      case kShortBinUnicode: push(add_string(read_bytes(read_le(1)))); return;
      case kBinUnicode8: push(add_string(read_bytes(read_le(8)))); return;
      case kShortBinString: push(python2_string(read_bytes(read_le(1)))); return;
      case kBinString: {
        auto length = static_cast<int32_t>(static_cast<uint32_t>(read_le(4)));
        if (length < 0) fail("BINSTRING with a negative length");
        push(python2_string(read_bytes(static_cast<uint64_t>(length))));
        return;
      }
      case kShortBinBytes: push(add_text(PickleKind::Bytes, read_bytes(read_le(1)))); return;
      case kBinBytes: push(add_text(PickleKind::Bytes, read_bytes(read_le(4)))); return;
      case kBinBytes8:
      case kByteArray8: push(add_text(PickleKind::Bytes, read_bytes(read_le(8)))); return;
      case kEmptyTuple: push(add_container(PickleKind::Tuple, {})); return;
      case kTuple: push(add_container(PickleKind::Tuple, pop_mark())); return;
      case kTuple1: {
        ValueId a = pop();
        push(add_container(PickleKind::Tuple, {a}));
        return;
      }
      case kTuple2: {
        ValueId b = pop();
        ValueId a = pop();
        push(add_container(PickleKind::Tuple, {a, b}));
        return;
      }
      case kTuple3: {
        ValueId c = pop();
        ValueId b = pop();
        ValueId a = pop();
        push(add_container(PickleKind::Tuple, {a, b, c}));
        return;
      }
      case kEmptyList: push(add_container(PickleKind::List, {})); return;
      case kList: push(add_container(PickleKind::List, pop_mark())); return;
      case kAppend: {
        ValueId item = pop();
        require_kind(top(), PickleKind::List, "APPEND");
        items_of(top()).push_back(item);
        return;
      }
      case kAppends: {
        std::vector<ValueId> items = pop_mark();
        require_kind(top(), PickleKind::List, "APPENDS");
        auto& list = items_of(top());
        list.insert(list.end(), items.begin(), items.end());
        return;
      }
      case kEmptyDict: push(add_container(PickleKind::Dict, {})); return;
      case kDict: {
        std::vector<ValueId> items = pop_mark();
        if (items.size() % 2 != 0) fail("DICT with an odd number of items");
        push(add_container(PickleKind::Dict, std::move(items)));
        return;
      }
      case kSetItem: {
        ValueId item = pop();
        ValueId key = pop();
        require_kind(top(), PickleKind::Dict, "SETITEM");
        auto& dict = items_of(top());
        dict.push_back(key);
        dict.push_back(item);
        return;
      }
      case kSetItems: {
        std::vector<ValueId> items = pop_mark();
        if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
        require_kind(top(), PickleKind::Dict, "SETITEMS");
        auto& dict = items_of(top());
        dict.insert(dict.end(), items.begin(), items.end());
        return;
      }
      case kEmptySet: push(add_container(PickleKind::Set, {})); return;
      case kAddItems: {
        std::vector<ValueId> items = pop_mark();
        require_kind(top(), PickleKind::Set, "ADDITEMS");
        auto& set = items_of(top());
        set.insert(set.end(), items.begin(), items.end());
        return;
      }
      case kFrozenSet: push(add_container(PickleKind::Set, pop_mark())); return;
      case kBinPut: memo_[static_cast<uint32_t>(read_le(1))] = top(); return;
      case kLongBinPut: memo_[static_cast<uint32_t>(read_le(4))] = top(); return;
      case kMemoize: memo_[static_cast<uint32_t>(memo_.size())] = top(); return;
      case kBinGet: push(memo_get(static_cast<uint32_t>(read_le(1)))); return;
      case kLongBinGet: push(memo_get(static_cast<uint32_t>(read_le(4)))); return;
      case kGlobal: {
        std::string module(read_line());
        std::string name(read_line());
        push(global(module, name));
        return;
      }
      case kStackGlobal: {
        ValueId name = pop();
        ValueId module = pop();
        if (value(name).kind != PickleKind::String || value(module).kind != PickleKind::String) {
          fail("STACK_GLOBAL without two strings");
        }
        push(global(text_of(module), text_of(name)));
        return;
      }
      case kBinPersId: push(persistent_id(pop())); return;
      case kReduce: {
        ValueId args = pop();
        ValueId callable = pop();
        push(reduce(callable, args));
        return;
      }
      case kBuild: {
        ValueId state = pop();
        build(top(), state);
        return;
      }
      case 'I': case 'L': case 'F': case 'S': case 'V': case 'g': case 'p': case 'P':
        fail(fmt::format("uses the protocol-0 text opcode {} ('{}'); torch.save writes binary "
                         "pickles (protocol 2 or higher)", opcode_name(op), static_cast<char>(op)));
      case 'i': case 'o': case kNewObj: case kNewObjEx:
        fail(fmt::format("instantiates a class (opcode {}), which a torch.save checkpoint never does",
                         opcode_name(op)));
      case kExt1: case kExt2: case kExt4:
        fail(fmt::format("uses the extension registry (opcode {})", opcode_name(op)));
      case kNextBuffer: case kReadonlyBuffer:
        fail(fmt::format("uses out-of-band buffers (opcode {})", opcode_name(op)));
      default:
        fail(fmt::format("unknown pickle opcode 0x{:02x}", op));
    }
  }

  ValueId read_long(uint64_t length) {
    std::string_view bytes = read_bytes(length);
    if (length == 0) return add_int(0);
    if (length > 8) fail("an integer wider than 64 bits");
    uint64_t bits = 0;
    for (size_t i = bytes.size(); i-- > 0;) bits = (bits << 8) | static_cast<unsigned char>(bytes[i]);
    if (length < 8 && (static_cast<unsigned char>(bytes.back()) & 0x80)) {
      bits |= ~uint64_t{0} << (8 * length);  // sign-extend
    }
    return add_int(static_cast<int64_t>(bits));
  }

  // Python 2 `str` (protocol 2 files written by Python 2): text when it decodes, else bytes.
  ValueId python2_string(std::string_view bytes) {
    return valid_utf8(bytes) ? add_text(PickleKind::String, bytes) : add_text(PickleKind::Bytes, bytes);
  }

  ValueId memo_get(uint32_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail(fmt::format("refers to memo entry {}, which was never stored", index));
    return it->second;
  }

  void require_kind(ValueId id, PickleKind kind, const char* op) const {
    if (value(id).kind != kind) fail(fmt::format("{} on a value of the wrong type", op));
  }

  ValueId global(const std::string& module, const std::string& name) {
    std::string full = allowed_global(module, name);
    if (full.empty()) {
      fail_file(path_, fmt::format("refuses global '{}' in data.pkl (only tensor, storage, dtype "
                                   "and container globals are allowed)",
                                   printable(module + "." + name)));
    }
    return add_text(PickleKind::Global, full);
  }

  // ('storage', torch.FloatStorage, key, location, numel): a storage record of the archive.
  ValueId persistent_id(ValueId pid) {
    const PickleValue& v = value(pid);
    if (v.kind != PickleKind::Tuple) fail("a persistent id that is not a tuple");
    const std::vector<ValueId> items = items_of(pid);
    if (items.size() != 5) fail("a persistent id that is not ('storage', type, key, location, numel)");
    if (!is_text(items[0]) || text_of(items[0]) != "storage") {
      fail("a persistent id that is not a storage");
    }
    if (value(items[1]).kind != PickleKind::Global) fail("a storage whose type is not a storage global");
    const std::string& type = text_of(items[1]);
    auto dtype = type.rfind("torch.", 0) == 0 ? dtype_by_storage_type(type.substr(6)) : std::nullopt;
    if (!dtype) fail(fmt::format("a storage of type '{}', which is not a storage type", printable(type)));
    if (!is_text(items[2]) || !is_text(items[3])) fail("a storage whose key or location is not text");
    const std::string& key = text_of(items[2]);
    const std::string& location = text_of(items[3]);
    if (key.empty() || key.size() > 256 || printable(key) != key) {
      fail(fmt::format("a storage key '{}' that is not a short printable name", printable(key)));
    }
    if (location.size() > 64 || printable(location) != location) {
      fail(fmt::format("a storage location '{}' that is not a device name", printable(location)));
    }
    if (value(items[4]).kind != PickleKind::Int || value(items[4]).integer < 0) {
      fail("a storage whose element count is not a non-negative integer");
    }
    doc_.storages.push_back({std::string(dtype->name), key, location, value(items[4]).integer, op_pos_});
    return add({PickleKind::Storage, false, static_cast<uint32_t>(doc_.storages.size() - 1), 0, 0});
  }

  bool is_text(ValueId id) const {
    return value(id).kind == PickleKind::String || value(id).kind == PickleKind::Bytes;
  }

  ValueId reduce(ValueId callable, ValueId args) {
    if (value(callable).kind != PickleKind::Global) fail("REDUCE calls something that is not a global");
    if (value(args).kind != PickleKind::Tuple) fail("REDUCE with arguments that are not a tuple");
    const std::string name = text_of(callable);
    const std::vector<ValueId> a = items_of(args);
    if (name == kOrderedDict) return ordered_dict(a);
    if (name == kTorchSize) {
      if (a.size() != 1) bad_call(name, "expects one argument");
      int_items(a[0], name, "its argument");  // validates: a tuple of integers
      std::vector<ValueId> dims = items_of(a[0]);
      return add_container(PickleKind::Tuple, std::move(dims));
    }
    if (name == kRebuildTensorV2 || name == kRebuildTensor) {
      size_t expected = name == kRebuildTensor ? 4 : 6;
      if (a.size() != expected && !(name == kRebuildTensorV2 && a.size() == 7)) {
        bad_call(name, fmt::format("has {} arguments", a.size()));
      }
      if (value(a[0]).kind != PickleKind::Storage) bad_call(name, "its first argument is not a storage");
      PickleTensor tensor;
      tensor.storage = value(a[0]).index;
      tensor.dtype = doc_.storages[value(a[0]).index].dtype;
      tensor.storage_offset = int_arg(a[1], name, "storage_offset");
      tensor.shape = int_items(a[2], name, "size");
      tensor.stride = int_items(a[3], name, "stride");
      if (a.size() > 4) tensor.requires_grad = bool_arg(a[4], name, "requires_grad");
      return add_tensor(std::move(tensor), name);
    }
    if (name == kRebuildMeta) {
      if (a.size() != 4) bad_call(name, fmt::format("has {} arguments", a.size()));
      PickleTensor tensor;
      const PickleValue& dtype = value(a[0]);
      std::optional<DtypeInfo> info;
      if (dtype.kind == PickleKind::Global && text_of(a[0]).rfind("torch.", 0) == 0) {
        info = dtype_by_torch_attribute(text_of(a[0]).substr(6));
      }
      if (!info) bad_call(name, "its first argument is not a dtype");
      tensor.dtype = std::string(info->name);
      tensor.shape = int_items(a[1], name, "size");
      tensor.stride = int_items(a[2], name, "stride");
      tensor.requires_grad = bool_arg(a[3], name, "requires_grad");
      return add_tensor(std::move(tensor), name);
    }
    if (name == kRebuildParameter || name == kRebuildParameterWithState) {
      size_t expected = name == kRebuildParameter ? 3 : 4;
      if (a.size() != expected) bad_call(name, fmt::format("has {} arguments", a.size()));
      if (value(a[0]).kind != PickleKind::Tensor) bad_call(name, "its first argument is not a tensor");
      PickleTensor tensor = doc_.tensors[value(a[0]).index];
      tensor.parameter = true;
      tensor.requires_grad = bool_arg(a[1], name, "requires_grad");
      return add_tensor(std::move(tensor), name);
    }
    fail(fmt::format("calls '{}', which is not a function", printable(name)));
  }

  [[noreturn]] void bad_call(const std::string& name, const std::string& what) const {
    fail(fmt::format("malformed call of {}: {}", name, what));
  }

  ValueId add_tensor(PickleTensor tensor, const std::string& name) {
    if (tensor.shape.size() != tensor.stride.size()) {
      bad_call(name, fmt::format("size has {} dims but stride has {}", tensor.shape.size(),
                                 tensor.stride.size()));
    }
    tensor.position = op_pos_;
    doc_.tensors.push_back(std::move(tensor));
    return add({PickleKind::Tensor, false, static_cast<uint32_t>(doc_.tensors.size() - 1), 0, 0});
  }

  int64_t int_arg(ValueId id, const std::string& name, const char* what) const {
    if (value(id).kind != PickleKind::Int) bad_call(name, fmt::format("{} is not an integer", what));
    return value(id).integer;
  }
  bool bool_arg(ValueId id, const std::string& name, const char* what) const {
    const PickleValue& v = value(id);
    if (v.kind == PickleKind::Bool || (v.kind == PickleKind::Int && (v.integer == 0 || v.integer == 1))) {
      return v.integer != 0;
    }
    bad_call(name, fmt::format("{} is not a bool", what));
  }
  std::vector<int64_t> int_items(ValueId id, const std::string& name, const char* what) {
    const PickleValue& v = value(id);
    if (v.kind != PickleKind::Tuple && v.kind != PickleKind::List) {
      bad_call(name, fmt::format("{} is not a tuple", what));
    }
    std::vector<int64_t> out;
    for (ValueId item : items_of(id)) out.push_back(int_arg(item, name, what));
    return out;
  }

  // OrderedDict() or OrderedDict([(key, value), ...]).
  ValueId ordered_dict(const std::vector<ValueId>& args) {
    if (args.empty()) return add_container(PickleKind::Dict, {}, true);
    if (args.size() != 1) bad_call(kOrderedDict, "expects at most one argument");
    PickleKind kind = value(args[0]).kind;
    if (kind != PickleKind::List && kind != PickleKind::Tuple) bad_call(kOrderedDict, "its argument is not a list");
    std::vector<ValueId> items;
    for (ValueId pair : items_of(args[0])) {
      PickleKind pair_kind = value(pair).kind;
      if ((pair_kind != PickleKind::Tuple && pair_kind != PickleKind::List) || items_of(pair).size() != 2) {
        bad_call(kOrderedDict, "its argument is not a list of pairs");
      }
      items.push_back(items_of(pair)[0]);
      items.push_back(items_of(pair)[1]);
    }
    return add_container(PickleKind::Dict, std::move(items), true);
  }

  // BUILD sets attributes: state_dict()'s OrderedDict carries `_metadata` this way.
  void build(ValueId target, ValueId state) {
    const PickleValue& t = value(target);
    if (t.kind == PickleKind::Dict && t.ordered) return;  // attributes are not entries
    if (t.kind == PickleKind::Tensor) {
      const PickleValue& s = value(state);
      bool empty = s.kind == PickleKind::None ||
                   (PickleDocument::is_container(s.kind) && items_of(state).empty());
      if (empty) return;
    }
    fail("BUILD on something other than an OrderedDict (only state_dict metadata is accepted)");
  }

  std::string_view data_;
  const std::string& path_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  PickleDocument doc_;
  std::vector<ValueId> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, ValueId> memo_;
  ValueId none_ = 0, false_ = 0, true_ = 0;
};

}  // namespace

PickleDocument read_pickle(std::string_view data, const std::string& path) {
  return Unpickler(data, path).run();
}

}  // namespace metaguard
