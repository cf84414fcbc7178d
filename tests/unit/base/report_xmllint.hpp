#pragma once
// Runs Debian's xmllint (package libxml2-utils) on a document: an independent XML parser for
// the JUnit tests. Tests skip the xmllint part, with a warning, where it is not installed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace metaguard::test {

constexpr const char* kXmllint = "/usr/bin/xmllint";

inline bool have_xmllint() { return ::access(kXmllint, X_OK) == 0; }

struct XmllintResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// `args` goes between "xmllint" and the file, e.g. "--noout" or "--xpath 'count(//testcase)'".
inline XmllintResult xmllint(const std::string& document, const std::string& args) {
  char path[] = "/tmp/metaguard-xml-XXXXXX";
  int fd = ::mkstemp(path);
  XmllintResult result;
  if (fd < 0) return result;
  ::close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << document;
  }
  std::string command = std::string(kXmllint) + " " + args + " " + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
    int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::unlink(path);
  return result;
}

}  // namespace metaguard::test
