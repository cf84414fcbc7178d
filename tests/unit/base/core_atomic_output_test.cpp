#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/atomic_output.hpp"
#include "core/errors.hpp"
#include "core/input_files.hpp"
#include "report/escaping.hpp"
#include "support/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace metaguard;

namespace {

using Scratch = metaguard::test::ScratchDir;
using metaguard::test::slurp;

}  // namespace

TEST_CASE("atomic output replaces a regular file and keeps its permissions", "[core][atomic]") {
  Scratch scratch;
  const std::string file = scratch.file("report.txt");
  write_file_atomically(file, "old");
  ::chmod(file.c_str(), 0600);
  write_file_atomically(file, "new");
  CHECK(slurp(file) == "new");
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(std::distance(fs::directory_iterator(scratch.path()), fs::directory_iterator{}) == 1);  // no temp left
}

TEST_CASE("a commit removes the temporary files of writers that died, and only those", "[core][atomic]") {
  Scratch scratch;
  const std::string file = scratch.file("run.json");
  // A process that has exited: its pid names no running process now.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const std::string dead = temp_path_of(file, child, 0);
  const std::string zip_temp = temp_path_of(file, child, 1) + ".Xa9zQ2";  // libzip's, beside ours
  const std::string alive = temp_path_of(file, ::getppid(), 3);            // a writer still running
  const std::string elsewhere = fmt::format("{}.tmp.{}.2.ffffffff", file, child);  // another machine's
  const std::string unrelated = file + ".tmp.notes";
  const std::string other_file = temp_path_of(scratch.file("lora.pt"), child, 0);
  for (const auto& path : {dead, zip_temp, alive, elsewhere, unrelated, other_file}) std::ofstream(path) << "partial";
  write_file_atomically(file, "{}");
  CHECK(slurp(file) == "{}");
  CHECK_FALSE(fs::exists(dead));
  CHECK_FALSE(fs::exists(zip_temp));
  CHECK(fs::exists(alive));
  CHECK(fs::exists(unrelated));
  CHECK(fs::exists(elsewhere));  // liveness can only be asked on the writer's own machine
  CHECK(fs::exists(other_file));  // another file's temporaries wait for that file's commit
}

TEST_CASE("atomic output through a symbolic link replaces the target, not the link", "[core][atomic]") {
  Scratch scratch;
  const std::string target = scratch.file("target.txt");
  const std::string link = scratch.file("link.txt");
  write_file_atomically(target, "old");
  fs::create_symlink("target.txt", link);
  write_file_atomically(link, "new");
  CHECK(fs::is_symlink(link));
  CHECK(slurp(target) == "new");
}

TEST_CASE("atomic output writes into devices instead of replacing the node", "[core][atomic]") {
  write_file_atomically("/dev/null", "discarded");
  struct stat info {};
  REQUIRE(::stat("/dev/null", &info) == 0);
  CHECK(S_ISCHR(info.st_mode));
  if (fs::exists("/dev/full")) {
    CHECK_THROWS_AS(write_file_atomically("/dev/full", std::string(1 << 16, 'x')), InputError);
    REQUIRE(::stat("/dev/full", &info) == 0);
    CHECK(S_ISCHR(info.st_mode));
  }
}

TEST_CASE("files read as input are remembered by identity", "[core][atomic]") {
  Scratch scratch;
  const std::string input = scratch.file("input.json");
  write_file_atomically(input, "{}");
  CHECK(read_file(input) == "{}");  // reading notes it as an input
  CHECK(is_input_file(input));
  CHECK_FALSE(is_input_file(scratch.file("never-written.json")));
  fs::create_symlink("input.json", scratch.file("link.json"));
  CHECK(is_input_file(scratch.file("link.json")));
}

TEST_CASE("printable text shows control characters instead of obeying them", "[report][escaping]") {
  CHECK(printable_text("plain.name") == "plain.name");
  CHECK(printable_text("a\nSUMMARY: 0 errors") == "a\\x0aSUMMARY: 0 errors");
  CHECK(printable_text("\x1b[31mred") == "\\x1b[31mred");
  CHECK(printable_text("bell\a") == "bell\\x07");
}
