import { lazy, Suspense, useState } from 'react';
import { createBrowserRouter, Navigate, NavLink, Outlet, RouterProvider, useLocation, useNavigate } from 'react-router-dom';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ThemeProvider } from '@mui/material/styles';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import CssBaseline from '@mui/material/CssBaseline';
import Toolbar from '@mui/material/Toolbar';
import Typography from '@mui/material/Typography';
import { theme } from './theme';
import { ApiError, backend } from './api';
import { SignInPage } from './pages/SignIn';
import { PipelinesPage } from './pages/Pipelines';
import { RunsPage } from './pages/Runs';
import { ConnectionsPage } from './pages/Connections';
import { ModuleIcon } from './components/ModuleIcon';

const EditorPage = lazy(() => import('./editor/EditorPage'));

function RequireAuth() {
  const loc = useLocation();
  if (!backend().isSignedIn()) return <Navigate to="/signin" replace state={{ from: loc.pathname }} />;
  return <Outlet />;
}

const navItems = [
  { to: '/pipelines', label: 'Pipelines' },
  { to: '/runs', label: 'Runs' },
  { to: '/connections', label: 'Connections' },
];

function Shell() {
  const navigate = useNavigate();
  return (
    <Box sx={{ display: 'flex', flexDirection: 'column', height: '100vh' }}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <AppBar position="static" elevation={0} color="default" sx={{ borderBottom: 1, borderColor: 'divider', bgcolor: 'background.paper' }}>
        <Toolbar variant="dense" sx={{ gap: 1 }}>
          <ModuleIcon name="water" color="#1f5fbf" size={22} />
          <Typography variant="h6" component="div" sx={{ mr: 3, fontSize: 17 }}>
            Ecluse
          </Typography>
          <Box component="nav" aria-label="Main" sx={{ display: 'flex', gap: 0.5, flex: 1 }}>
            {navItems.map((n) => (
              <Button key={n.to} component={NavLink} to={n.to} color="inherit" sx={{ '&.active': { color: 'primary.main', bgcolor: 'action.selected' } }}>
                {n.label}
              </Button>
            ))}
          </Box>
          <Button
            color="inherit"
            onClick={() => {
              backend().logout();
              navigate('/signin');
            }}
          >
            Sign out
          </Button>
        </Toolbar>
      </AppBar>
      <Box component="main" id="main" sx={{ flex: 1, minHeight: 0, display: 'flex', flexDirection: 'column' }}>
        <Suspense
          fallback={
            <Box sx={{ display: 'grid', placeItems: 'center', flex: 1 }}>
              <CircularProgress aria-label="Loading" />
            </Box>
          }
        >
          <Outlet />
        </Suspense>
      </Box>
    </Box>
  );
}

function ErrorPage() {
  return (
    <Box sx={{ p: 4 }} role="alert">
      <Typography variant="h5" gutterBottom>
        Something went wrong on this page
      </Typography>
      <Typography color="text.secondary" gutterBottom>
        The error was recorded in the browser console. Your saved pipelines are safe.
      </Typography>
      <Button variant="contained" onClick={() => window.location.reload()}>
        Reload the page
      </Button>
    </Box>
  );
}

const router = createBrowserRouter([
  { path: '/signin', element: <SignInPage />, errorElement: <ErrorPage /> },
  {
    element: <RequireAuth />,
    errorElement: <ErrorPage />,
    children: [
      {
        element: <Shell />,
        children: [
          { path: '/', element: <Navigate to="/pipelines" replace /> },
          { path: '/pipelines', element: <PipelinesPage /> },
          { path: '/pipelines/:id', element: <EditorPage /> },
          { path: '/runs', element: <RunsPage /> },
          { path: '/connections', element: <ConnectionsPage /> },
          { path: '*', element: <Navigate to="/pipelines" replace /> },
        ],
      },
    ],
  },
]);

export function App() {
  const [client] = useState(() => {
    // an expired session (401 after the silent refresh) goes back to the sign-in page
    const onError = (e: unknown) => {
      if (e instanceof ApiError && e.status === 401 && window.location.pathname !== '/signin') {
        backend().logout();
        void router.navigate('/signin', { state: { from: window.location.pathname } });
      }
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: { queries: { retry: (n, e) => !(e instanceof ApiError && e.status < 500) && n < 1, refetchOnWindowFocus: false } },
    });
  });
  return (
    <QueryClientProvider client={client}>
      <ThemeProvider theme={theme}>
        <CssBaseline />
        <RouterProvider router={router} />
      </ThemeProvider>
    </QueryClientProvider>
  );
}
