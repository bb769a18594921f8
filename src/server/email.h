// Email from plugins (ctx.email.send), as EmDash's host pipeline handles it (bridge.md §3.7):
// email:beforeSend hooks (sequential; an object replaces the message, false cancels silently),
// then the exclusive email:deliver provider when a plugin registers one, else the configured
// transport, then email:afterSend in the background. A plugin that sends while one of its own
// email hooks runs gets EmDash's recursion error.
// Transports: `log` (bridge/email_outbox.h: JSON lines in <data>/outbox.jsonl) and `smtp`
// (libcurl; smtp:// with STARTTLS when offered, or smtps://).
// May call: bridge/, server/pipeline.h, common/, libcurl. Called by: server/serve.cc.
#pragma once

#include "bridge/bridge.h"
#include "server/config.h"
#include "server/pipeline.h"

namespace ps::server {

bridge::EmailSender MakeSmtpSender(const EmailConfig& config);

// The host pipeline around `transport`. `pipeline` and `registry` must outlive the sender.
bridge::EmailSender MakeEmailPipeline(Pipeline& pipeline, PluginRegistry& registry,
                                      bridge::EmailSender transport);

// The RFC 5322 text of a message (exposed for tests): headers, blank line, body; CR and LF in
// header values are replaced by spaces.
std::string RenderEmail(const json::object& message, const std::string& from,
                        const std::string& source);

}  // namespace ps::server
