#include "bridge/email_outbox.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include "common/ids.h"

namespace ps::bridge {

EmailSender MakeOutboxEmailSender(const std::string& path) {
  auto mu = std::make_shared<std::mutex>();
  return [path, mu](const json::object& message, const std::string& source) -> Status {
    json::object line;
    line["at"] = NowIso();
    line["from"] = source;
    line["message"] = message;
    std::string text = Stringify(line) + "\n";
    std::lock_guard<std::mutex> lock(*mu);
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return Internal("Email could not be queued: cannot open the outbox " + path);
    ssize_t n = ::write(fd, text.data(), text.size());
    ::close(fd);
    if (n != ssize_t(text.size()))
      return Internal("Email could not be queued: outbox write failed");
    return Status::Ok();
  };
}

}  // namespace ps::bridge
