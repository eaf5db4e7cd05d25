#pragma once
// Test-only: an in-memory projects::Client for the tasks service's unit tests.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "core/ids.hpp"
#include "services/projects/client.hpp"

namespace taskhub::tasks::testing {

class FakeProjectsClient final : public projects::Client {
 public:
  struct Project {
    projects::ProjectAccess base;
    std::map<std::string, projects::ProjectRole> members;
    std::vector<projects::StateInfo> states;
    std::set<std::string> labels;
  };

  // A project with the five default states (backlog first: the default); returns its id.
  std::string add_project(const std::string& key, const std::string& owner) {
    Project p;
    p.base.project_id = new_uuid_v7();
    p.base.workspace_id = new_uuid_v7();
    p.base.key = key;
    p.base.name = key;
    p.members[owner] = projects::ProjectRole::admin;
    using G = projects::StateGroup;
    const std::pair<const char*, G> defaults[] = {{"Backlog", G::backlog},
                                                  {"Todo", G::unstarted},
                                                  {"In Progress", G::started},
                                                  {"Done", G::completed},
                                                  {"Cancelled", G::cancelled}};
    for (const auto& [name, g] : defaults)
      p.states.push_back(projects::StateInfo{new_uuid_v7(), p.base.project_id, name, g});
    std::string id = p.base.project_id;
    projects_[id] = std::move(p);
    return id;
  }
  void add_member(const std::string& project, const std::string& user, projects::ProjectRole role) {
    projects_.at(project).members[user] = role;
  }
  std::string add_label(const std::string& project) {
    auto id = new_uuid_v7();
    projects_.at(project).labels.insert(id);
    return id;
  }
  void set_archived(const std::string& project, bool a) { projects_.at(project).base.archived = a; }
  const projects::StateInfo& state_of(const std::string& project, projects::StateGroup g) {
    for (const auto& s : projects_.at(project).states)
      if (s.group == g) return s;
    throw std::logic_error("no state");
  }

  std::optional<projects::ProjectAccess> project_access(const std::string& user,
                                                        const std::string& project_id) override {
    auto it = projects_.find(project_id);
    if (it == projects_.end()) return std::nullopt;
    auto m = it->second.members.find(user);
    if (m == it->second.members.end()) return std::nullopt;
    auto acc = it->second.base;
    acc.role = m->second;
    return acc;
  }
  std::vector<projects::ProjectAccess> visible_projects(const std::string& user) override {
    std::vector<projects::ProjectAccess> out;
    for (const auto& [id, p] : projects_)
      if (auto a = project_access(user, id)) out.push_back(*a);
    return out;
  }
  std::vector<projects::StateInfo> states(const std::string& project_id) override {
    auto it = projects_.find(project_id);
    return it == projects_.end() ? std::vector<projects::StateInfo>{} : it->second.states;
  }
  std::optional<projects::StateInfo> state(const std::string& project_id, const std::string& state_id) override {
    for (const auto& s : states(project_id))
      if (s.id == state_id) return s;
    return std::nullopt;
  }
  std::optional<projects::StateInfo> default_state(const std::string& project_id) override {
    auto s = states(project_id);
    if (s.empty()) return std::nullopt;
    return s.front();
  }
  std::vector<std::string> existing_labels(const std::string& project_id,
                                           const std::vector<std::string>& label_ids) override {
    std::vector<std::string> out;
    auto it = projects_.find(project_id);
    if (it == projects_.end()) return out;
    for (const auto& l : label_ids)
      if (it->second.labels.count(l)) out.push_back(l);
    return out;
  }
  std::vector<std::string> project_members(const std::string& project_id,
                                           const std::vector<std::string>& user_ids) override {
    std::vector<std::string> out;
    auto it = projects_.find(project_id);
    if (it == projects_.end()) return out;
    for (const auto& u : user_ids)
      if (it->second.members.count(u)) out.push_back(u);
    return out;
  }

 private:
  std::map<std::string, Project> projects_;
};

}  // namespace taskhub::tasks::testing
