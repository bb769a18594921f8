// `http/fetch` parameter unmarshalling: bridge.md §8.2's exact texts, in its order, plus what
// Node's Request constructor refuses.
#include "http/request.h"

#include <gtest/gtest.h>

namespace ps::http {
namespace {

Result<FetchInit> Parse(const std::string& params_json) {
  auto p = ParseJson(params_json);
  EXPECT_TRUE(p.ok() && p->is_object()) << params_json;
  return ParseFetchParams(p->get_object());
}

std::string Err(const std::string& params_json) {
  auto r = Parse(params_json);
  EXPECT_FALSE(r.ok()) << params_json << " unexpectedly parsed";
  return r.ok() ? "" : r.status().message();
}

TEST(FetchParamsTest, SpecMessages) {
  EXPECT_EQ(Err(R"({})"), "Missing required string parameter: url");
  EXPECT_EQ(Err(R"({"url":5})"), "Missing required string parameter: url");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":"GET"})"), "http/fetch: init must be an object");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":[]})"), "http/fetch: init must be an object");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":null})"), "http/fetch: init must be an object");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"method":1}})"),
            "http/fetch: init.method must be a string");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"redirect":"follw"}})"),
            "http/fetch: init.redirect must be \"follow\", \"error\", or \"manual\"");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"redirect":1}})"),
            "http/fetch: init.redirect must be \"follow\", \"error\", or \"manual\"");
  const std::string headers_msg =
      "http/fetch: init.headers must be an array of [name, value] pairs";
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"headers":{"a":"b"}}})"), headers_msg);
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"headers":[["a"]]}})"), headers_msg);
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"headers":[["a","b","c"]]}})"), headers_msg);
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"headers":[["a",1]]}})"), headers_msg);
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"bodyType":"json","body":"{}"}})"),
            "http/fetch: init.bodyType must be \"string\", \"base64\", or \"formdata\"");
  const std::string form_msg = "http/fetch: formdata body must be an array of form parts";
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"method":"POST","bodyType":"formdata","body":"a"}})"),
            form_msg);
  EXPECT_EQ(
      Err(R"({"url":"http://x/","init":{"method":"POST","bodyType":"formdata","body":[{"name":"a"}]}})"),
      form_msg);
  EXPECT_EQ(
      Err(R"({"url":"http://x/","init":{"method":"POST","bodyType":"formdata","body":[{"name":"a","value":"b","isBlob":"yes"}]}})"),
      form_msg);
  EXPECT_EQ(
      Err(R"({"url":"http://x/","init":{"method":"POST","bodyType":"formdata","body":[{"name":"a","value":"b","filename":3}]}})"),
      form_msg);
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"method":"POST","bodyType":"string","body":[1]}})"),
            "http/fetch: string/base64 body must be a string");
  EXPECT_EQ(Err(R"({"url":"http://x/","init":{"method":"POST","bodyType":"base64","body":5}})"),
            "http/fetch: string/base64 body must be a string");
}

TEST(FetchParamsTest, OrderFirstFailureWins) {
  // method is checked before redirect, redirect before headers, headers before bodyType.
  EXPECT_EQ(Err(R"({"url":"x","init":{"method":1,"redirect":2,"headers":3,"bodyType":4}})"),
            "http/fetch: init.method must be a string");
  EXPECT_EQ(Err(R"({"url":"x","init":{"redirect":2,"headers":3,"bodyType":4}})"),
            "http/fetch: init.redirect must be \"follow\", \"error\", or \"manual\"");
  EXPECT_EQ(Err(R"({"url":"x","init":{"headers":3,"bodyType":4}})"),
            "http/fetch: init.headers must be an array of [name, value] pairs");
}

TEST(FetchParamsTest, WhatNodeRefuses) {
  EXPECT_EQ(Err(R"({"url":"x","init":{"method":"GE T"}})"),
            "http/fetch: \"GE T\" is not a valid HTTP method");
  EXPECT_EQ(Err(R"({"url":"x","init":{"method":"connect"}})"),
            "http/fetch: method \"connect\" is not allowed");
  EXPECT_EQ(Err(R"({"url":"x","init":{"method":"TRACE"}})"),
            "http/fetch: method \"TRACE\" is not allowed");
  EXPECT_EQ(Err(R"({"url":"x","init":{"headers":[["bad name","v"]]}})"),
            "http/fetch: \"bad name\" is not a valid header name");
  EXPECT_EQ(Err(R"({"url":"x","init":{"headers":[["","v"]]}})"),
            "http/fetch: \"\" is not a valid header name");
  EXPECT_EQ(Err(R"({"url":"x","init":{"headers":[["x-a","1\r\nInjected: yes"]]}})"),
            "http/fetch: header \"x-a\" has an invalid value (CR, LF and NUL are not allowed)");
  EXPECT_EQ(Err(R"({"url":"x","init":{"headers":[["x-a","1\u0000"]]}})"),
            "http/fetch: header \"x-a\" has an invalid value (CR, LF and NUL are not allowed)");
  EXPECT_EQ(Err(R"({"url":"x","init":{"bodyType":"string","body":"hi"}})"),
            "Request with GET/HEAD method cannot have body.");
  EXPECT_EQ(Err(R"({"url":"x","init":{"method":"head","bodyType":"string","body":"hi"}})"),
            "Request with GET/HEAD method cannot have body.");
  EXPECT_EQ(Err(R"({"url":"x","init":{"method":"POST","bodyType":"base64","body":"***"}})"),
            "http/fetch: base64 body is not valid base64");
}

TEST(FetchParamsTest, Rebuild) {
  auto r = Parse(R"({"url":"https://a.example/x","init":{
      "method":"post","redirect":"manual",
      "headers":[["X-Multi","a"],["x-multi"," b\t"],["Host","evil"],["Content-Length","9"],
                 ["Connection","close"],["Empty",""]],
      "bodyType":"base64","body":"AAEC/w"}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->url, "https://a.example/x");
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->redirect, RedirectMode::kManual);
  ASSERT_EQ(r->headers.size(), 3u);
  EXPECT_EQ(r->headers[0], std::make_pair(std::string("X-Multi"), std::string("a")));
  EXPECT_EQ(r->headers[1], std::make_pair(std::string("x-multi"), std::string("b")));
  EXPECT_EQ(r->headers[2], std::make_pair(std::string("Empty"), std::string("")));
  EXPECT_EQ(r->body_kind, FetchInit::BodyKind::kBytes);
  EXPECT_EQ(r->body, std::string("\x00\x01\x02\xff", 4));

  auto patch = Parse(R"({"url":"x","init":{"method":"patch"}})");
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->method, "patch");  // Fetch upper-cases only the six standard methods
  auto empty = Parse(R"({"url":"x","init":{"method":""}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->method, "GET");

  // A body without bodyType (or the reverse) is no body.
  auto no_type = Parse(R"({"url":"x","init":{"body":"hi"}})");
  ASSERT_TRUE(no_type.ok());
  EXPECT_EQ(no_type->body_kind, FetchInit::BodyKind::kNone);

  auto form = Parse(R"({"url":"x","init":{"method":"POST","bodyType":"formdata","body":[
      {"name":"title","value":"hello"},
      {"name":"file","value":"AAH/","filename":"a.bin","type":"application/x-test","isBlob":true},
      {"name":"anon","value":"aGk=","isBlob":true}]}})");
  ASSERT_TRUE(form.ok()) << form.status().message();
  ASSERT_EQ(form->form.size(), 3u);
  EXPECT_EQ(form->form[0].value, "hello");
  EXPECT_FALSE(form->form[0].is_blob);
  EXPECT_EQ(form->form[1].value, std::string("\x00\x01\xff", 3));
  EXPECT_EQ(*form->form[1].filename, "a.bin");
  EXPECT_EQ(form->form[2].value, "hi");
  EXPECT_FALSE(form->form[2].filename.has_value());
}

}  // namespace
}  // namespace ps::http
