/** People and their roles (issue 23, docs/security.md "People"): one endpoint per file. */
import { router } from "../common.ts";
import { listUsersRoute } from "./list.ts";
import { meRoute } from "./me.ts";
import { roleRoutes } from "./roles.ts";

export const userRoutes = router();
for (const routes of [meRoute, listUsersRoute, roleRoutes]) userRoutes.route("/", routes);
